"""Reading one entry of a catalog file field by field, with errors that name the file, the entry and the field."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from bot.town.catalog.models import TimeRange

_TIME = re.compile(r"^(\d{1,2})[:h](\d{2})$")
_ID = re.compile(r"^[a-z0-9_]+$")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: same result, faster


class CatalogError(ValueError):
    """A catalog file is invalid; the message names the file, the entry and the field (English, for scripts and
    files); `french` says the same to staff in the console."""

    def __init__(self, file: str, entry: str, field: str, problem: str) -> None:
        self.file, self.entry, self.field, self.problem = file, entry, field, problem
        super().__init__(f"{file}: {entry}: {field}: {problem}")

    @property
    def french_problem(self) -> str:
        """The problem in French, without the file, entry and field (shown next to the field)."""
        return french_problem(self.problem)

    @property
    def french(self) -> str:
        """The whole message in French: entry, field, problem."""
        return f"{self.entry} : {self.field} : {self.french_problem}"


# The problems this module and the loader raise, in French; a value quoted in the English message keeps its quotes.
_V = r"(?P<v>.+)"
_FRENCH_PROBLEMS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(f"^{pattern}$", re.S), french)
    for pattern, french in (
        ("missing", "manquant"),
        (r"missing \(write \[\] or 'closed' for a closed day\)", "manquant (laissez vide un jour fermé)"),
        (r"missing \(say how to book\)", "manquant (dites comment prendre rendez-vous)"),
        ("unknown field", "champ inconnu"),
        ("duplicate id", "identifiant en double"),
        ("ranges overlap", "les plages horaires se chevauchent"),
        ("is before valid_from", "précède le début de la période"),
        ("is before from", "précède la date de début"),
        (f"expected a mapping, got {_V}", "un ensemble de champs est attendu, pas {v}"),
        (f"expected text, got {_V}", "un texte est attendu, pas {v}"),
        (f"expected a list, got {_V}", "une liste est attendue, pas {v}"),
        (f"expected a number, got {_V}", "un nombre est attendu, pas {v}"),
        (f"expected true or false, got {_V}", "oui ou non est attendu, pas {v}"),
        (f"expected a list of ranges or 'closed', got {_V}", "des plages horaires sont attendues, pas {v}"),
        (r"expected a list of points", "une liste de points est attendue"),
        (f"{_V} is outside \\[(?P<low>[^,]+), (?P<high>[^\\]]+)\\]", "{v} est hors de l'intervalle [{low}, {high}]"),
        (f"{_V} is not a web URL", "{v} n'est pas une adresse web (https://…)"),
        (f"{_V} is not one of (?P<options>.+)", "{v} n'est pas l'une des valeurs {options}"),
        (f"{_V} is not a time", "{v} n'est pas une heure (08:30)"),
        (f"{_V} is not a range like '08:30-12:00'( \\(quote it\\))?", "{v} n'est pas une plage comme 08:30-12:00"),
        (f"{_V} ends before it starts", "{v} finit avant de commencer"),
        (f"{_V} is not a date \\(YYYY-MM-DD\\)", "{v} n'est pas une date (AAAA-MM-JJ)"),
        (f"{_V} is not a phone number like '05 36 49 10 00'", "{v} n'est pas un numéro comme 05 36 49 10 00"),
        (f"{_V} is not an id \\(lower-case letters, digits, _\\)", "{v} n'est pas un identifiant (a-z, 0-9, _)"),
        (f"{_V} is not a French postcode", "{v} n'est pas un code postal français (5 chiffres)"),
        (f"{_V} is not an e-mail address", "{v} n'est pas une adresse e-mail"),
        (f"{_V} is not a service id", "{v} n'est pas un service du catalogue"),
        (f"{_V} is not a number of days between 1 and 6", "{v} n'est pas un nombre de jours entre 1 et 6"),
        (f"{_V} is not a month-day like '12-25'", "{v} n'est pas un jour de l'année comme 12-25"),
        (f"{_V} is not collected door to door", "{v} n'est pas collecté en porte-à-porte"),
        (f"{_V} is not a weekday \\(monday … sunday\\)", "{v} n'est pas un jour (monday … sunday)"),
        (f"{_V} is already in sector (?P<sector>.+)", "{v} est déjà dans le secteur {sector}"),
        ("an on-appointment stream needs booking text and a phone or url",
         "une collecte sur rendez-vous demande un texte de réservation et un téléphone ou un lien"),
        ("expected a mapping of streams", "un ensemble de flux est attendu"),
        (r"unknown stream \(expected one of (?P<options>.+)\)", "flux inconnu (attendu : {options})"),
        (r"expected a top-level '(?P<key>\w+):' list", "une liste « {key}: » est attendue"),
    )
)  # fmt: skip


def french_problem(problem: str) -> str:
    """A validation problem of the catalog in French (the English text when it is not one of the known problems)."""
    for pattern, french in _FRENCH_PROBLEMS:
        match = pattern.match(problem)
        if match:
            return french.format(**match.groupdict())
    return problem


class EntryReader:
    """Reads the fields of one entry of a file, raising CatalogError with full context."""

    def __init__(self, file: str, entry: str, data: Any, allowed: Iterable[str], path: str = "") -> None:
        self.file, self.entry, self.path = file, entry, path
        if not isinstance(data, Mapping):
            raise CatalogError(file, entry, path or "(entry)", f"expected a mapping, got {show_value(data)}")
        self.data = data
        for key in data:
            if key not in allowed:
                raise CatalogError(file, entry, self._at(str(key)), "unknown field")

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, problem: str) -> CatalogError:
        """An error about one field of this entry."""
        return CatalogError(self.file, self.entry, self._at(key), problem)

    def sub(self, key: str, allowed: Iterable[str]) -> EntryReader:
        """The nested mapping under `key`."""
        return EntryReader(self.file, self.entry, self.required(key), allowed, self._at(key))

    def required(self, key: str) -> Any:
        """A field that must be present and non-empty."""
        value = self.data.get(key)
        if value is None or value == "" or value == []:
            raise self.error(key, "missing")
        return value

    def text(self, key: str, default: str | None = None) -> str | None:
        """A string field (optional when a default is given or None is acceptable)."""
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"expected text, got {show_value(value)}")
        return value.strip()

    def required_text(self, key: str) -> str:
        """A string field that must be present."""
        self.required(key)
        return self.text(key) or ""

    def texts(self, key: str) -> tuple[str, ...]:
        """A list of strings (empty when absent)."""
        value = self.data.get(key) or []
        if not isinstance(value, list):
            raise self.error(key, f"expected a list, got {show_value(value)}")
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise self.error(f"{key}[{i}]", f"expected text, got {show_value(item)}")
        return tuple(item.strip() for item in value)

    def number(self, key: str, low: float, high: float) -> float:
        """A number within bounds."""
        value = self.required(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(key, f"expected a number, got {show_value(value)}")
        if not low <= value <= high:
            raise self.error(key, f"{value} is outside [{low}, {high}]")
        return float(value)

    def flag(self, key: str) -> bool:
        """A yes/no field."""
        value = self.data.get(key)
        if not isinstance(value, bool):
            raise self.error(key, "missing" if value is None else f"expected true or false, got {show_value(value)}")
        return value

    def url(self, key: str) -> str | None:
        """An optional web URL (https, or http for imported directory data)."""
        value = self.text(key)
        if value is not None and not re.match(r"https?://[^\s/]+\.[^\s]+$", value):
            raise self.error(key, f"'{value}' is not a web URL")
        return value

    def choice(self, key: str, choices: Iterable[str], default: str | None = None) -> str:
        """A field whose value is one of `choices`."""
        value = self.data.get(key, default)
        options = tuple(choices)
        if value not in options:
            raise self.error(key, f"{show_value(value)} is not one of {', '.join(options)}")
        return str(value)


def show_value(value: Any) -> str:
    """A value as quoted in error messages."""
    return f"'{value}'" if isinstance(value, str) else repr(value)


def parse_time(text: str) -> int:
    """Minutes since midnight of "08:30" / "8h30" / "24:00"; ValueError when it is not a time."""
    match = _TIME.match(text.strip())
    if not match:
        raise ValueError(f"'{text}' is not a time")
    hour, minute = int(match.group(1)), int(match.group(2))
    if minute > 59 or hour > 24 or (hour == 24 and minute):
        raise ValueError(f"'{text}' is not a time")
    return hour * 60 + minute


def parse_range(value: Any) -> TimeRange:
    """A TimeRange from "08:30-12:00"; ValueError naming the faulty part."""
    if not isinstance(value, str):
        raise ValueError(f"{show_value(value)} is not a range like '08:30-12:00' (quote it)")
    parts = value.split("-")
    if len(parts) != 2:
        raise ValueError(f"'{value}' is not a range like '08:30-12:00'")
    start, end = parse_time(parts[0]), parse_time(parts[1])
    if end <= start:
        raise ValueError(f"'{value}' ends before it starts")
    return TimeRange(start, end)


def date_field(entry: EntryReader, key: str, value: Any) -> date:
    """A date from a YAML date or an ISO string."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise entry.error(key, f"{show_value(value)} is not a date (YYYY-MM-DD)") from None


def phone_field(entry: EntryReader, key: str = "phone") -> str | None:
    """An optional phone number written like "05 36 49 10 00"."""
    value = entry.text(key)
    if value is not None and not re.fullmatch(r"0\d( \d\d){4}", value):
        raise entry.error(key, f"'{value}' is not a phone number like '05 36 49 10 00'")
    return value


def entries_of(file: str, document: Any, key: str) -> list[tuple[str, Any]]:
    """The (id, raw entry) pairs of a top-level list, checking ids are well-formed and unique."""
    if not isinstance(document, Mapping) or not isinstance(document.get(key), list):
        raise CatalogError(file, "(file)", key, f"expected a top-level '{key}:' list")
    result, seen = [], set()
    for i, raw in enumerate(document[key]):
        raw_id = raw.get("id") if isinstance(raw, Mapping) else None
        if not isinstance(raw_id, str) or not _ID.match(raw_id):
            raise CatalogError(
                file, f"{key}[{i}]", "id", f"{show_value(raw_id)} is not an id (lower-case letters, digits, _)"
            )
        if raw_id in seen:
            raise CatalogError(file, raw_id, "id", "duplicate id")
        seen.add(raw_id)
        result.append((raw_id, raw))
    return result


def read_yaml(path: Path) -> Any:
    """The parsed YAML document; a syntax error is reported as a CatalogError naming the file."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)  # noqa: S506 (a safe loader)
    except FileNotFoundError:
        raise CatalogError(path.name, "(file)", "(file)", f"not found in {path.parent}") from None
    except yaml.YAMLError as exc:
        raise CatalogError(path.name, "(file)", "(syntax)", str(exc).replace("\n", " ")) from None
