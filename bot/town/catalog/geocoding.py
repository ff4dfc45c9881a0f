"""Typed places to coordinates, from the town's address points (bot/town/catalog/addresses.py).

Understood: « 40 avenue de Lons », « devant le 12 rue Serviez », « 12 r serviez », « 12 bis rue Carnot », « angle rue
Serviez et rue Carnot » or « rue Serviez / rue Carnot » (the midpoint of the closest pair of points of the two streets,
labelled the second way), a street alone (its points' centroid, marked approximate), with the accents, abbreviations
and typos `matching` tolerates. The answer says what was matched and how precisely: the house number itself,
interpolated between the neighbouring numbers of the same side, the street only, or an intersection. When the street
is unknown, matched too loosely or ambiguous (two streets as close, the same name in two communes), there is no
answer: a wrong place given with confidence would send the town's crews to the wrong street, while no place only
leaves the report to be located by hand.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy.exc import SQLAlchemyError

from bot.town.catalog.addresses import (
    SEED_FILE,
    AddressFileError,
    AddressPoint,
    AddressStore,
    address_store_from_settings,
)
from bot.town.catalog.matching import (
    STREET_TYPES,
    FuzzyIndex,
    fold,
    similarity,
    street_aliases,
    tokens,
    word_similarity,
)
from bot.town.tickets.location import haversine_m

if TYPE_CHECKING:
    from bot.settings import Settings

logger = logging.getLogger(__name__)

Precision = Literal["housenumber", "interpolated", "street", "intersection"]

SURE_SCORE = 0.85  # a street matched less closely than this could be another one: no answer
MAX_CORNER_GAP_M = 120.0  # two streets whose closest points are further apart do not meet
_STREET_WORDS = (
    r"rue|r|avenue|av|ave|boulevard|bd|bld|blvd|place|pl|cours|crs|chemin|ch|allees?|all|impasse|imp|route|rte"
    r"|square|sq|quai|esplanade|passage|residence|lotissement|chaussee|promenade"
)
_NUMBER = re.compile(r"^(\d{1,4})\s*(bis|ter|quater|[a-d])?\b\s*(.*)$")
_STREET_START = re.compile(rf"\b(?:\d{{1,4}}\s*(?:bis|ter|quater|[a-d])?\s+)?(?:{_STREET_WORDS})\b.*$")
_CORNER = re.compile(
    r"\b(?:angle|coin|croisement|carrefour|intersection)\b\s+(?:(?:de|des|du|d|entre|la|l|le)\s+)*(.+?)"
    r"\s+(?:et|x)\s+(?:(?:de|des|du|d|la|l|le)\s+)*(.+)$"
)
_CORNER_LEAD = re.compile(
    r"^.*\b(?:angle|coin|croisement|carrefour|intersection)\b\s+(?:(?:de|des|du|d|entre|la|l|le)\s+)*"
)
_AFTER_STREET = re.compile(r"\s(?:pres|devant|derriere|face|cote|niveau|vers|juste|entre|sur le|sur la|au bout)\s")
_LEAD_WORDS = frozenset(
    "c est cest juste pile au aux niveau devant derriere en face a cote pres proche du de des le la l n no num "
    "numero vers sur dans il y j habite se situe trouve ici".split()
)


@dataclass(frozen=True)
class Geocoded:
    """Where a typed place is, what it was matched to, and how precisely."""

    lat: float
    lon: float
    label: str  # as shown to the citizen: "40 Avenue de Lons", "Rue Serviez / Rue Carnot" (an intersection)
    street: str  # the street's name as the address base writes it (the first one of an intersection)
    precision: Precision
    number: str | None = None  # "40", "12 bis", as typed
    other_street: str | None = None  # the second street of an intersection
    postcode: str = ""
    commune: str = ""

    @property
    def approximate(self) -> bool:
        """Only the street is known, not where along it."""
        return self.precision == "street"


@dataclass(frozen=True)
class _Street:
    name: str
    points: tuple[AddressPoint, ...]

    @property
    def centroid(self) -> tuple[float, float]:
        return (
            sum(p.lat for p in self.points) / len(self.points),
            sum(p.lon for p in self.points) / len(self.points),
        )

    def numbered(self, number: int, rep: str) -> AddressPoint | None:
        """The point of that number and repetition index, else of the plain number."""
        plain = None
        for point in self.points:
            if point.number == number and point.rep == rep:
                return point
            if point.number == number and not point.rep:
                plain = point
        return plain

    def interpolated(self, number: int) -> tuple[float, float] | None:
        """Between the closest lower and higher numbers of the same side (same parity), when both exist."""
        side = {p.number: p for p in self.points if p.number is not None and p.number % 2 == number % 2 and not p.rep}
        below, above = [n for n in side if n < number], [n for n in side if n > number]
        if not below or not above:
            return None
        lower, higher = side[max(below)], side[min(above)]
        share = (number - max(below)) / (min(above) - max(below))
        return lower.lat + share * (higher.lat - lower.lat), lower.lon + share * (higher.lon - lower.lon)


def split_house_number(text: str) -> tuple[int | None, str, str]:
    """(number, repetition index, the rest) of a typed address: « devant le 12 bis r Serviez » -> (12, "bis", "r
    serviez"); (None, "", text folded) without a number first."""
    words = fold(text).split()
    while len(words) > 1 and words[0] in _LEAD_WORDS:
        words = words[1:]
    rest = " ".join(words)
    match = _NUMBER.match(rest)
    if not match:
        return None, "", rest
    return int(match.group(1)), match.group(2) or "", match.group(3)


class Geocoder:
    """The town's streets and address points, searchable by what citizens type."""

    def __init__(self, points: Iterable[AddressPoint]) -> None:
        grouped: dict[str, list[AddressPoint]] = {}
        names: dict[str, str] = {}
        for point in points:
            key = f"{point.insee}:{fold(point.street)}"
            grouped.setdefault(key, []).append(point)
            names.setdefault(key, point.street)
        self._streets = {key: _Street(names[key], tuple(found)) for key, found in grouped.items()}
        self._entries = {key: (key, street.name, street_aliases(street.name)) for key, street in self._streets.items()}
        # The streets of each distinctive word of their names, so that a search ranks only the streets that share
        # a word (or a misspelling of one) with what was typed, not the town's hundreds of streets.
        self._by_word: dict[str, set[str]] = {}
        for key, (_key, name, aliases) in self._entries.items():
            for alias in (name, *aliases):
                for word in tokens(alias, drop_numbers=True):
                    if word not in STREET_TYPES:
                        self._by_word.setdefault(word, set()).add(key)

    @property
    def street_count(self) -> int:
        """How many streets it knows."""
        return len(self._streets)

    def nearest(self, lat: float, lon: float, max_distance_m: float = 50.0) -> AddressPoint | None:
        """The numbered address closest to a position (a shared location), within `max_distance_m`."""
        best: tuple[float, AddressPoint] | None = None
        for street in self._streets.values():
            for point in street.points:
                if point.number is None:
                    continue
                distance = haversine_m(lat, lon, point.lat, point.lon)
                if distance <= max_distance_m and (best is None or distance < best[0]):
                    best = (distance, point)
        return best[1] if best else None

    def _street(self, text: str) -> _Street | None:
        """The one street `text` names, closely enough; None when unknown, loose or ambiguous."""
        typed = [word for word in tokens(text, drop_numbers=True) if word not in STREET_TYPES]
        keys = {
            key
            for word, found in self._by_word.items()
            if any(word_similarity(typed_word, word) for typed_word in typed)
            for key in found
        }
        if not keys:
            return None
        index = FuzzyIndex((self._entries[key] for key in sorted(keys)), drop_numbers=True)
        matches = index.search(text, threshold=SURE_SCORE)
        return self._streets[matches[0].id] if len(matches) == 1 else None

    def geocode(self, text: str) -> Geocoded | None:
        """Where the place typed is; None when unsure (see the module's docstring)."""
        if not self._streets or not text or not text.strip():
            return None
        if text.count("/") == 1:  # « rue Serviez / rue Carnot »
            return self._corner(*(_CORNER_LEAD.sub("", fold(part)) for part in text.split("/")))
        folded = fold(text)
        corner = _CORNER.search(folded)
        if corner:
            return self._corner(corner.group(1), corner.group(2))
        tried: list[str] = []
        start = _from_street_start(folded)
        clauses = (fold(part) for part in re.split(r"[,;(]", text))
        for candidate in (folded, *clauses, start, _AFTER_STREET.split(start)[0]):
            if candidate and candidate not in tried:
                tried.append(candidate)
                found = self._address(candidate)
                if found is not None:
                    return found
        return None

    def _address(self, text: str) -> Geocoded | None:
        number, rep, rest = split_house_number(text)
        street = self._street(rest)
        if street is None:
            return None
        if number is not None and not _names_only(rest, street.name):
            return None  # « 2 trous rue Serviez »: the number may count something else; the street alone is tried next
        first = street.points[0]

        def found(position: tuple[float, float], label: str, precision: Precision, typed: str | None) -> Geocoded:
            return Geocoded(*position, label, street.name, precision, typed, None, first.postcode, first.commune)

        if number is None:
            return found(street.centroid, street.name, "street", None)
        typed = f"{number} {rep}".strip()
        label = f"{typed} {street.name}"
        point = street.numbered(number, rep)
        if point is not None:
            return found((point.lat, point.lon), label, "housenumber", typed)
        between = street.interpolated(number)
        if between is not None:
            return found(between, label, "interpolated", typed)
        return found(street.centroid, label, "street", typed)  # a number beyond the known ones: on the street

    def _corner(self, first_text: str, second_text: str) -> Geocoded | None:
        first, second = self._street(first_text), self._street(second_text)
        if first is None or second is None or first is second:
            return None
        gap, a, b = min(
            ((haversine_m(p.lat, p.lon, q.lat, q.lon), p, q) for p in first.points for q in second.points),
            key=lambda found: found[0],
        )
        if gap > MAX_CORNER_GAP_M:
            return None
        return Geocoded(
            (a.lat + b.lat) / 2,
            (a.lon + b.lon) / 2,
            f"{first.name} / {second.name}",
            street=first.name,
            precision="intersection",
            other_street=second.name,
            postcode=a.postcode,
            commune=a.commune,
        )


def _names_only(text: str, street: str) -> bool:
    """Whether every word of `text` is a word (or a misspelling of one) of the street's name."""
    name = tokens(street)
    return all(any(similarity((word,), (part,)) >= SURE_SCORE for part in name) for word in tokens(text, True))


def _from_street_start(folded: str) -> str:
    """The text from its first "12 rue", "avenue"...: « il y a un trou devant le 40 av de lons » -> "40 av de lons"."""
    match = _STREET_START.search(folded)
    return match.group(0) if match else ""


class LiveGeocoder:
    """The geocoder of one process, rebuilt when an import raised the address table's version (checked at most once
    every `check_seconds`); an empty table is first filled from the demonstration file `seed`. When the database
    cannot be read, the process goes on with the geocoder it has."""

    def __init__(
        self,
        store: AddressStore,
        seed: Path | None,
        check_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store, self._seed = store, seed
        self._check_seconds, self._clock = check_seconds, clock
        self._geocoder: Geocoder | None = None
        self._version = -1
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def current(self) -> Geocoder | None:
        """The geocoder held, when it was checked less than `check_seconds` ago; None when a check is due."""
        if self._geocoder is not None and self._clock() - self._checked < self._check_seconds:
            return self._geocoder
        return None

    def get(self) -> Geocoder:
        """The geocoder, checked against the table's version when a check is due (blocking: call off the loop)."""
        geocoder = self.current()
        return geocoder if geocoder is not None else self.refresh()

    def refresh(self) -> Geocoder:
        """Check the version now and rebuild when it changed."""
        with self._lock:
            fresh = self.current()
            if fresh is not None:
                return fresh
            try:
                if self._geocoder is None and self._seed is not None:
                    self._store.seed(self._seed)
                version = self._store.version()
                if version != self._version:
                    self._geocoder, self._version = Geocoder(self._store.points()), version
                    logger.info("Addresses version %s loaded (%s streets)", version, self._geocoder.street_count)
            except (SQLAlchemyError, AddressFileError) as error:
                if self._geocoder is None:
                    logger.warning("Addresses unavailable, typed places are not located: %s", error)
                    self._geocoder = Geocoder(())
                else:
                    logger.warning("Addresses check failed; still using version %s: %s", self._version, error)
            self._checked = self._clock()
            assert self._geocoder is not None  # set above, or an empty one after a failure
            return self._geocoder


def live_geocoder_from_settings(settings: Settings | None = None) -> LiveGeocoder:
    """The process's live geocoder: the addresses of DATABASE_URL, seeded from TOWN_DATA_DIR's demonstration file."""
    from bot.settings import get_settings

    settings = settings or get_settings()
    return LiveGeocoder(
        address_store_from_settings(settings), settings.town_data_dir / SEED_FILE, settings.catalog_check_seconds
    )
