"""The console's catalog forms: a catalog document shown as form fields, and the fields posted back as a document.

Forms only carry what staff typed into the document; judging it is the catalog's own validation (CatalogError,
bot/town/catalog/loader.py), whose French message is shown next to the field it names (`error_field`). A YAML box
(the waste document's streams and sector details) that does not parse is the one thing said here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

import yaml

from bot.town.catalog.documents import canonical, yaml_text
from bot.town.catalog.models import WEEKDAYS

DAYS = (*WEEKDAYS, "public_holidays")
DAY_LABELS = {"monday": "Lundi", "tuesday": "Mardi", "wednesday": "Mercredi", "thursday": "Jeudi",
              "friday": "Vendredi", "saturday": "Samedi", "sunday": "Dimanche",
              "public_holidays": "Jours fériés"}  # fmt: skip
RANGES_PER_DAY = 2  # a morning and an afternoon: a lunch break
SERVICE_TEXTS = ("name", "label", "phone", "email", "website", "accessibility", "access")
PROCEDURE_TEXTS = ("name", "label", "where", "delay", "cost", "link", "notes")
MAX_FIELD_CHARS = 20_000  # a whole sector list in a YAML box stays well below
MAX_SEASONS = 24  # periods a form may hold: a posted "seasons.99999.name" cannot make the page loop for ever


class FormError(ValueError):
    """A form field that cannot become part of a document (a YAML box that does not parse); French for staff."""

    def __init__(self, field: str, french: str) -> None:
        self.field, self.french = field, french
        super().__init__(f"{field}: {french}")


Form = Mapping[str, str]


def _text(form: Form, key: str) -> str:
    return (form.get(key) or "").strip()[:MAX_FIELD_CHARS]


def _set_or_drop(document: dict[str, Any], key: str, value: Any) -> None:
    if value in (None, "", []):
        document.pop(key, None)
    else:
        document[key] = value


def _number(text: str) -> Any:
    """A typed number as a number (a comma accepted); anything else as typed, for the catalog's validation to name."""
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return text or None


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def street_line(street: Any) -> str:
    """One line of a sector's streets: the name, or a part of a street split between sectors as a YAML mapping
    (« {name: Avenue de Lons, side: even} », « {name: Boulevard Barbanègre, first: 31} »)."""
    if isinstance(street, Mapping):
        return yaml.safe_dump(dict(street), default_flow_style=True, allow_unicode=True, sort_keys=False).strip()
    return str(street)


def parse_street_lines(text: str) -> list[Any]:
    """The streets of a sector as typed: names, and `{...}` lines read as street parts (checked by the catalog's own
    validation afterwards; a line that is not valid YAML stays text, which that validation then names)."""
    streets: list[Any] = []
    for line in _lines(text):
        if line.startswith("{"):
            try:
                part = yaml.safe_load(line)
            except yaml.YAMLError:
                part = line
            streets.append(part if isinstance(part, dict) else line)
        else:
            streets.append(line)
    return streets


def _yaml(form: Form, key: str) -> Any:
    text = _text(form, key)
    if not text:
        return None
    try:
        return canonical(yaml.safe_load(text))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (ligne {mark.line + 1})" if mark is not None else ""
        raise FormError(key, f"YAML illisible{where} : vérifiez l'indentation et les deux-points") from None


def yaml_box(value: Any) -> str:
    """A part of a document as the YAML staff edit in a box ("" when there is none)."""
    return "" if value in (None, [], {}) else yaml_text(value)


def service_fields(document: Mapping[str, Any]) -> dict[str, str]:
    """The form fields of a service document."""
    fields = {key: str(document.get(key) or "") for key in SERVICE_TEXTS}
    address = document.get("address") or {}
    fields |= {f"address.{key}": str(address.get(key) or "") for key in ("street", "postcode", "city")}
    fields |= {"gender": str(document.get("gender") or ""), "aliases": ", ".join(document.get("aliases") or []),
               "lat": str(document.get("lat", "")), "lon": str(document.get("lon", "")),
               }  # fmt: skip
    fields |= _week_fields("hours", document.get("hours") or {})
    seasons = list(document.get("seasons") or [])
    for index, season in enumerate([*seasons, {}]):  # and a blank one, to add a period
        prefix = f"seasons.{index}"
        fields |= {f"{prefix}.{key}": str(season.get(key) or "") for key in ("name", "valid_from", "valid_to")}
        fields |= _week_fields(f"{prefix}.hours", season.get("hours") or {})
    return fields


def _week_fields(prefix: str, hours: Mapping[str, Any]) -> dict[str, str]:
    """The range inputs of a week ("hours.monday.1" …), at least two a day."""
    fields = {}
    for day in DAYS:
        ranges = hours.get(day) or []
        ranges = [] if ranges == "closed" else list(ranges)
        for index in range(max(RANGES_PER_DAY, len(ranges))):
            fields[f"{prefix}.{day}.{index + 1}"] = str(ranges[index]) if index < len(ranges) else ""
    return fields


def _week_document(form: Form, prefix: str) -> dict[str, list[str]]:
    """The week of the range inputs under `prefix`: every weekday (empty: closed), public holidays when typed."""
    hours: dict[str, list[str]] = {}
    for day in DAYS:
        pattern = re.compile(rf"{re.escape(prefix)}\.{day}\.(\d+)")
        keys = sorted((k for k in form if pattern.fullmatch(k)), key=lambda k: int(k.rsplit(".", 1)[1]))
        typed = [_text(form, key) for key in keys]
        if day != "public_holidays" or any(typed):
            hours[day] = [text for text in typed if text]
    return hours


def range_count(fields: Mapping[str, str], prefix: str, day: str) -> int:
    """How many range inputs a day of the week under `prefix` shows (two, or more when the document has more)."""
    count = RANGES_PER_DAY
    while f"{prefix}.{day}.{count + 1}" in fields:
        count += 1
    return count


def season_count(fields: Mapping[str, str]) -> int:
    """How many seasonal periods the fields hold (shown: the last one blank, to add one); a form posts no empty
    field, so any field of a period counts."""
    indexes = [int(match.group(1)) for key in fields if (match := re.match(r"seasons\.(\d+)\.", key))]
    return min(max(indexes, default=-1) + 1, MAX_SEASONS)


def _seasons(form: Form) -> list[dict[str, Any]]:
    """The seasonal periods of the form, in order; a blank one and those marked for removal are left out."""
    seasons = []
    for index in range(season_count(form)):
        prefix = f"seasons.{index}"
        if form.get(f"{prefix}.remove") == "1":
            continue
        season = {key: _text(form, f"{prefix}.{key}") for key in ("name", "valid_from", "valid_to")}
        hours = _week_document(form, f"{prefix}.hours")
        if not any(season.values()) and not any(hours.values()):
            continue
        seasons.append({key: value for key, value in season.items() if value} | {"hours": hours})
    return seasons


def service_document(form: Form, current: Mapping[str, Any]) -> dict[str, Any]:
    """The service document the form describes; what the form does not show (closures, other fields) is kept."""
    document = copy.deepcopy(dict(current))
    for key in SERVICE_TEXTS:
        _set_or_drop(document, key, _text(form, key))
    document["gender"] = _text(form, "gender")
    _set_or_drop(document, "aliases", [a.strip() for a in _text(form, "aliases").split(",") if a.strip()])
    document["address"] = {key: _text(form, f"address.{key}") for key in ("street", "postcode", "city")}
    document["lat"], document["lon"] = _number(_text(form, "lat")), _number(_text(form, "lon"))
    document["hours"] = _week_document(form, "hours")
    _set_or_drop(document, "seasons", _seasons(form))
    return document


def procedure_fields(document: Mapping[str, Any]) -> dict[str, str]:
    """The form fields of a procedure document."""
    fields = {key: str(document.get(key) or "") for key in PROCEDURE_TEXTS}
    booking = document.get("appointment") or {}
    fields |= {"gender": str(document.get("gender") or ""), "aliases": ", ".join(document.get("aliases") or []),
               "documents": "\n".join(document.get("documents") or []),
               "appointment.required": "1" if booking.get("required") else "",
               **{f"appointment.{key}": str(booking.get(key) or "") for key in ("how", "url", "phone")}}  # fmt: skip
    return fields


def procedure_document(form: Form, current: Mapping[str, Any]) -> dict[str, Any]:
    """The procedure document the form describes (other fields kept)."""
    document = copy.deepcopy(dict(current))
    for key in PROCEDURE_TEXTS:
        _set_or_drop(document, key, _text(form, key))
    document["gender"] = _text(form, "gender")
    _set_or_drop(document, "aliases", [a.strip() for a in _text(form, "aliases").split(",") if a.strip()])
    document["documents"] = _lines(_text(form, "documents"))
    booking: dict[str, Any] = {"required": form.get("appointment.required") == "1"}
    for key in ("how", "url", "phone"):
        if value := _text(form, f"appointment.{key}"):
            booking[key] = value
    document["appointment"] = booking
    return document


def waste_fields(document: Mapping[str, Any]) -> dict[str, str]:
    """The form fields of the waste document: the holiday rule, each sector's name and streets, YAML for the rest."""
    rule = document.get("holiday_rule") or {}
    fields = {"holiday_rule.description": str(rule.get("description") or ""),
              "holiday_rule.postpone_days": str(rule.get("postpone_days", "")),
              "holiday_rule.cancelled": ", ".join(rule.get("cancelled") or []),
              "streams": yaml_box(document.get("streams"))}  # fmt: skip
    for sector in document.get("sectors") or []:
        sid = str(sector.get("id"))
        rest = {k: v for k, v in sector.items() if k not in ("id", "name", "streets")}
        fields |= {f"sectors.{sid}.name": str(sector.get("name") or ""),
                   f"sectors.{sid}.streets": "\n".join(street_line(s) for s in sector.get("streets") or []),
                   f"sectors.{sid}.collection": yaml_box(rest)}  # fmt: skip
    return fields


def waste_document(form: Form, current: Mapping[str, Any]) -> dict[str, Any]:
    """The waste document the form describes (sectors stay those of `current`, in its order)."""
    document = copy.deepcopy(dict(current))
    rule = dict(document.get("holiday_rule") or {})
    rule["description"] = _text(form, "holiday_rule.description")
    postpone = _text(form, "holiday_rule.postpone_days")
    rule["postpone_days"] = int(postpone) if postpone.isdigit() else postpone
    _set_or_drop(rule, "cancelled", [d.strip() for d in _text(form, "holiday_rule.cancelled").split(",") if d.strip()])
    document["holiday_rule"] = rule
    document["streams"] = _yaml(form, "streams")
    sectors = []
    for sector in document.get("sectors") or []:
        sid = str(sector.get("id"))
        rest = _yaml(form, f"sectors.{sid}.collection") or {}
        if not isinstance(rest, dict):
            raise FormError(f"sectors.{sid}.collection", "un ensemble « collection: … » est attendu")
        rest = {key: value for key, value in rest.items() if key not in ("id", "name", "streets")}  # own fields
        sectors.append({"id": sid, "name": _text(form, f"sectors.{sid}.name"), **rest,
                        "streets": parse_street_lines(_text(form, f"sectors.{sid}.streets"))})  # fmt: skip
    document["sectors"] = sectors
    return document


def error_field(kind: str, entry: str, field: str, document: Mapping[str, Any] | None = None) -> str:
    """The form field a CatalogError's entry and field point to (the form's name for it)."""
    if kind == "waste":
        sector_ids = {str(s.get("id")) for s in (document or {}).get("sectors") or []}
        if entry == "holiday_rule":
            return f"holiday_rule.{field.split('[')[0]}"
        if entry in sector_ids:
            top = field.split(".")[0].split("[")[0]
            return f"sectors.{entry}.{top}" if top in ("name", "streets") else f"sectors.{entry}.collection"
        return "streams"
    season = re.match(r"seasons\[(\d+)\](?:\.(\w+))?(?:\.(\w+))?", field)
    if season:  # "seasons[0].hours.monday[1]" -> "seasons.0.hours.monday"
        return ".".join(part for part in ("seasons", *season.groups()) if part)
    if field.startswith("hours."):
        return ".".join(field.split("[")[0].split(".")[:2])
    return field.split("[")[0].split(".")[0] if field.startswith("closures") else field.split("[")[0]
