"""The town catalog's records: services, opening hours, procedures and waste-collection sectors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Gender = Literal["m", "f"]
StreamMode = Literal["porte_a_porte", "apport_volontaire", "rendez_vous"]
WeekParity = Literal["all", "even", "odd"]
Side = Literal["all", "even", "odd"]  # which house numbers of a street: both sides, even ones, odd ones

WEEKDAYS: tuple[str, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

SERVICE_IDS: tuple[str, ...] = (
    "mairie",
    "mairie_annexe",
    "etat_civil",
    "urbanisme",
    "ccas",
    "police_municipale",
    "mediatheque",
    "piscine",
    "decheterie",
    "office_tourisme",
    "cimetiere",
    "services_techniques",
    "sports",
)

PROCEDURE_IDS: tuple[str, ...] = (
    "carte_identite",
    "passeport",
    "acte_naissance",
    "acte_mariage",
    "acte_deces",
    "inscription_listes_electorales",
    "recensement_citoyen",
    "inscription_scolaire",
    "restauration_scolaire",
    "permis_construire",
    "declaration_naissance",
    "perte_vol_papiers",
)

WASTE_STREAMS: tuple[str, ...] = ("ordures_menageres", "recyclables", "verre", "dechets_verts", "encombrants")


@dataclass(frozen=True, order=True)
class TimeRange:
    """An opening range within one day, in minutes since local midnight (end may be 1440, i.e. midnight)."""

    start: int
    end: int

    def contains(self, minute: int) -> bool:
        """Whether the minute of the day falls inside the range (start included, end excluded)."""
        return self.start <= minute < self.end


@dataclass(frozen=True)
class WeekSchedule:
    """Ranges per weekday (0 = Monday) and the ranges that apply on a public holiday (empty = closed)."""

    days: tuple[tuple[TimeRange, ...], ...]
    public_holidays: tuple[TimeRange, ...] = ()

    def ranges_for(self, weekday: int) -> tuple[TimeRange, ...]:
        """The regular ranges of a weekday (0 = Monday)."""
        return self.days[weekday]


@dataclass(frozen=True)
class SeasonalPeriod:
    """A period with its own week; bounds are inclusive; `yearly` periods repeat every year (month-day bounds)."""

    name: str
    valid_from: date
    valid_to: date
    hours: WeekSchedule
    yearly: bool = False

    def covers(self, day: date) -> bool:
        """Whether the period applies on that date."""
        if not self.yearly:
            return self.valid_from <= day <= self.valid_to
        key = (day.month, day.day)
        start = (self.valid_from.month, self.valid_from.day)
        end = (self.valid_to.month, self.valid_to.day)
        if start <= end:
            return start <= key <= end
        return key >= start or key <= end  # the period spans New Year


@dataclass(frozen=True)
class Closure:
    """An exceptional closure on each date from `start` to `end`, whole day or between two times."""

    start: date
    end: date
    reason: str
    window: TimeRange = TimeRange(0, 1440)

    def covers(self, day: date) -> bool:
        """Whether the closure applies on that date."""
        return self.start <= day <= self.end

    @property
    def whole_day(self) -> bool:
        """Whether the closure lasts the whole day."""
        return self.window == TimeRange(0, 1440)


@dataclass(frozen=True)
class Address:
    """A postal address."""

    street: str
    postcode: str
    city: str

    def one_line(self) -> str:
        """The address on one line, e.g. "Place Royale, 64000 Pau"."""
        return f"{self.street}, {self.postcode} {self.city}"


@dataclass(frozen=True)
class Service:
    """A local public service with its contacts and opening hours."""

    id: str
    name: str
    label: str
    gender: Gender
    address: Address
    lat: float
    lon: float
    hours: WeekSchedule
    aliases: tuple[str, ...] = ()
    phone: str | None = None
    email: str | None = None
    website: str | None = None
    accessibility: str | None = None
    access: str | None = None
    seasons: tuple[SeasonalPeriod, ...] = ()
    closures: tuple[Closure, ...] = ()

    @property
    def map_url(self) -> str:
        """An OpenStreetMap link centred on the service."""
        return f"https://www.openstreetmap.org/?mlat={self.lat:.5f}&mlon={self.lon:.5f}#map=18/{self.lat:.5f}/{self.lon:.5f}"


@dataclass(frozen=True)
class Appointment:
    """Whether a procedure needs an appointment, and how to book one."""

    required: bool
    how: str | None = None
    url: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Procedure:
    """An administrative procedure (démarche) and what the citizen needs to know about it."""

    id: str
    name: str
    label: str
    gender: Gender
    where: str
    documents: tuple[str, ...]
    appointment: Appointment
    delay: str
    cost: str
    link: str
    aliases: tuple[str, ...] = ()
    notes: str | None = None


@dataclass(frozen=True)
class ProblemCategory:
    """A category of problem in public space (ticket category, NLU `problem_type`) and the names citizens give it."""

    id: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class StreamSchedule:
    """When a door-to-door stream is collected in a sector: weekdays (0 = Monday), every week or every other week."""

    weekdays: tuple[int, ...]
    weeks: WeekParity = "all"
    note: str | None = None

    def is_collection_day(self, day: date) -> bool:
        """Whether `day` is a regular collection day (before the holiday rule)."""
        if day.weekday() not in self.weekdays:
            return False
        if self.weeks == "all":
            return True
        even = day.isocalendar()[1] % 2 == 0
        return even if self.weeks == "even" else not even


@dataclass(frozen=True)
class DropOffPoint:
    """A voluntary drop-off point (point d'apport volontaire), e.g. for glass."""

    name: str
    address: str
    lat: float
    lon: float


@dataclass(frozen=True)
class WasteSector:
    """A collection sector: its door-to-door schedules and its drop-off points."""

    id: str
    name: str
    schedules: dict[str, StreamSchedule]
    drop_off_points: dict[str, tuple[DropOffPoint, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class WasteStream:
    """A waste stream and how it is collected: door to door, drop-off points, or on appointment."""

    id: str
    name: str
    mode: StreamMode
    instructions: str | None = None
    booking: str | None = None
    phone: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class StreetPart:
    """The house numbers of a street that belong to one sector: one side (even or odd) or both, within bounds."""

    sector: str
    side: Side = "all"
    first: int | None = None  # the lowest number of the part (None: from the start of the street)
    last: int | None = None  # the highest (None: to its end)

    def covers(self, number: int) -> bool:
        """Whether this house number belongs to the part."""
        if self.side != "all" and (number % 2 == 0) != (self.side == "even"):
            return False
        return (self.first is None or number >= self.first) and (self.last is None or number <= self.last)

    def overlaps(self, other: StreetPart) -> bool:
        """Whether some house number would belong to both parts."""
        if "all" not in (self.side, other.side) and self.side != other.side:
            return False
        low = max(self.first or 0, other.first or 0)
        high = min(self.last if self.last is not None else 10**9, other.last if other.last is not None else 10**9)
        return low <= high


@dataclass(frozen=True)
class Street:
    """A street of the town and its collection sector; a street split between sectors lists its parts."""

    id: str
    name: str
    sector: str  # the whole street's sector; for a split street, the sector of its first part
    aliases: tuple[str, ...] = ()
    parts: tuple[StreetPart, ...] = ()

    @property
    def split(self) -> bool:
        """Whether the house number decides the sector."""
        return len({part.sector for part in self.parts}) > 1

    def sector_for(self, number: int | None) -> str | None:
        """The sector of a house number of this street; None when the number is needed, or belongs to no part."""
        if not self.split:
            return self.sector
        if number is None:
            return None
        return next((part.sector for part in self.parts if part.covers(number)), None)


@dataclass(frozen=True)
class HolidayRule:
    """What happens when a collection day is a public holiday: postponed by `postpone_days`, or cancelled."""

    description: str
    postpone_days: int = 1
    cancelled: tuple[tuple[int, int], ...] = ()  # (month, day) of holidays on which collection is cancelled


@dataclass(frozen=True)
class WasteData:
    """All the waste-collection data of the town."""

    streams: dict[str, WasteStream]
    sectors: dict[str, WasteSector]
    streets: dict[str, Street]
    holiday_rule: HolidayRule
