"""Reading and validating the catalog's YAML files (services.yml, procedures.yml, waste.yml, categories.yml)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, cast

from bot.town.catalog.fields import (
    CatalogError,
    EntryReader,
    date_field,
    entries_of,
    parse_range,
    phone_field,
    read_yaml,
    show_value,
)
from bot.town.catalog.matching import slugify
from bot.town.catalog.models import (
    WASTE_STREAMS,
    WEEKDAYS,
    Address,
    Appointment,
    Closure,
    DropOffPoint,
    Gender,
    HolidayRule,
    ProblemCategory,
    Procedure,
    SeasonalPeriod,
    Service,
    Side,
    StreamMode,
    StreamSchedule,
    Street,
    StreetPart,
    TimeRange,
    WasteData,
    WasteSector,
    WasteStream,
    WeekParity,
    WeekSchedule,
)
from bot.town.tickets.categories import PROBLEM_TYPES


def _ranges(entry: EntryReader, key: str, value: Any) -> tuple[TimeRange, ...]:
    if value is None or value == "closed":
        return ()
    if not isinstance(value, list):
        raise entry.error(key, f"expected a list of ranges or 'closed', got {show_value(value)}")
    ranges = []
    for i, item in enumerate(value):
        try:
            ranges.append(parse_range(item))
        except ValueError as exc:
            raise entry.error(f"{key}[{i}]", str(exc)) from None
    ranges.sort()
    for before, after in zip(ranges, ranges[1:], strict=False):
        if after.start < before.end:
            raise entry.error(key, "ranges overlap")
    return tuple(ranges)


def _week(entry: EntryReader, key: str) -> WeekSchedule:
    week = entry.sub(key, (*WEEKDAYS, "public_holidays"))
    for day in WEEKDAYS:
        if day not in week.data:
            raise week.error(day, "missing (write [] or 'closed' for a closed day)")
    days = tuple(_ranges(week, day, week.data[day]) for day in WEEKDAYS)
    return WeekSchedule(days=days, public_holidays=_ranges(week, "public_holidays", week.data.get("public_holidays")))


def _season(entry: EntryReader, index: int) -> SeasonalPeriod:
    key = f"seasons[{index}]"
    season = EntryReader(
        entry.file, entry.entry, entry.data["seasons"][index], ("name", "valid_from", "valid_to", "hours"), key
    )
    raw_from, raw_to = season.required("valid_from"), season.required("valid_to")
    yearly = isinstance(raw_from, str) and re.fullmatch(r"\d{2}-\d{2}", raw_from) is not None
    if yearly:
        valid_from = date_field(season, "valid_from", f"2000-{raw_from}")  # leap year, so 02-29 is accepted
        valid_to = date_field(season, "valid_to", f"2000-{raw_to}")
    else:
        valid_from, valid_to = date_field(season, "valid_from", raw_from), date_field(season, "valid_to", raw_to)
        if valid_to < valid_from:
            raise season.error("valid_to", "is before valid_from")
    return SeasonalPeriod(season.required_text("name"), valid_from, valid_to, _week(season, "hours"), yearly)


def _closure(entry: EntryReader, index: int) -> Closure:
    key = f"closures[{index}]"
    closure = EntryReader(
        entry.file, entry.entry, entry.data["closures"][index], ("date", "from", "to", "hours", "reason"), key
    )
    if "date" in closure.data:
        start = end = date_field(closure, "date", closure.data["date"])
    else:
        start, end = (
            date_field(closure, "from", closure.required("from")),
            date_field(closure, "to", closure.required("to")),
        )
        if end < start:
            raise closure.error("to", "is before from")
    window = TimeRange(0, 1440)
    if "hours" in closure.data:
        try:
            window = parse_range(closure.data["hours"])
        except ValueError as exc:
            raise closure.error("hours", str(exc)) from None
    return Closure(start, end, closure.required_text("reason"), window)


def _address(entry: EntryReader) -> Address:
    address = entry.sub("address", ("street", "postcode", "city"))
    postcode = str(address.required("postcode"))
    if not re.fullmatch(r"\d{5}", postcode):
        raise address.error("postcode", f"'{postcode}' is not a French postcode")
    return Address(address.required_text("street"), postcode, address.required_text("city"))


def _email(entry: EntryReader) -> str | None:
    value = entry.text("email")
    if value is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", value):
        raise entry.error("email", f"'{value}' is not an e-mail address")
    return value


_SERVICE_FIELDS = (
    "id", "name", "label", "gender", "aliases", "address", "lat", "lon", "phone", "email", "website",
    "accessibility", "access", "hours", "seasons", "closures",
)  # fmt: skip


def parse_service(file: str, service_id: str, raw: Any) -> Service:
    """One service entry, validated."""
    entry = EntryReader(file, service_id, raw, _SERVICE_FIELDS)
    seasons = entry.data.get("seasons") or []
    closures = entry.data.get("closures") or []
    for key, value in (("seasons", seasons), ("closures", closures)):
        if not isinstance(value, list):
            raise entry.error(key, f"expected a list, got {show_value(value)}")
    return Service(
        id=service_id,
        name=entry.required_text("name"),
        label=entry.required_text("label"),
        gender=cast(Gender, entry.choice("gender", ("m", "f"))),
        address=_address(entry),
        lat=entry.number("lat", -90, 90),
        lon=entry.number("lon", -180, 180),
        hours=_week(entry, "hours"),
        aliases=entry.texts("aliases"),
        phone=phone_field(entry),
        email=_email(entry),
        website=entry.url("website"),
        accessibility=entry.text("accessibility"),
        access=entry.text("access"),
        seasons=tuple(_season(entry, i) for i in range(len(seasons))),
        closures=tuple(_closure(entry, i) for i in range(len(closures))),
    )


def parse_services(file: str, document: Any) -> dict[str, Service]:
    """The services of a parsed services.yml document, by id."""
    return {sid: parse_service(file, sid, raw) for sid, raw in entries_of(file, document, "services")}


def load_services(path: Path) -> dict[str, Service]:
    """The services of a services.yml file, by id."""
    return parse_services(path.name, read_yaml(path))


_PROCEDURE_FIELDS = (
    "id", "name", "label", "gender", "aliases", "where", "documents", "appointment", "delay", "cost", "link", "notes",
)  # fmt: skip


def parse_procedure(file: str, procedure_id: str, raw: Any, service_ids: Iterable[str]) -> Procedure:
    """One procedure entry, validated against the known service ids."""
    entry = EntryReader(file, procedure_id, raw, _PROCEDURE_FIELDS)
    where = entry.required_text("where")
    if where not in set(service_ids):
        raise entry.error("where", f"'{where}' is not a service id")
    booking = entry.sub("appointment", ("required", "how", "url", "phone"))
    appointment = Appointment(booking.flag("required"), booking.text("how"), booking.url("url"), phone_field(booking))
    if appointment.required and not (appointment.how or appointment.url or appointment.phone):
        raise booking.error("how", "missing (say how to book)")
    documents = entry.texts("documents")
    if not documents:
        raise entry.error("documents", "missing")
    link = entry.url("link")
    if link is None:
        raise entry.error("link", "missing")
    return Procedure(
        id=procedure_id,
        name=entry.required_text("name"),
        label=entry.required_text("label"),
        gender=cast(Gender, entry.choice("gender", ("m", "f"))),
        where=where,
        documents=documents,
        appointment=appointment,
        delay=entry.required_text("delay"),
        cost=entry.required_text("cost"),
        link=link,
        aliases=entry.texts("aliases"),
        notes=entry.text("notes"),
    )


def parse_procedures(file: str, document: Any, service_ids: Iterable[str]) -> dict[str, Procedure]:
    """The procedures of a parsed procedures.yml document, by id, checked against the known service ids."""
    ids = tuple(service_ids)
    return {pid: parse_procedure(file, pid, raw, ids) for pid, raw in entries_of(file, document, "procedures")}


def load_procedures(path: Path, service_ids: Iterable[str]) -> dict[str, Procedure]:
    """The procedures of a procedures.yml file, by id."""
    return parse_procedures(path.name, read_yaml(path), service_ids)


def parse_categories(file: str, document: Any) -> dict[str, ProblemCategory]:
    """The problem categories of a parsed categories.yml document, by id; each id is a ticket category."""
    categories = {}
    for category_id, raw in entries_of(file, document, "categories"):
        entry = EntryReader(file, category_id, raw, ("id", "aliases"))
        if category_id not in PROBLEM_TYPES:
            raise entry.error("id", f"'{category_id}' is not a problem category ({', '.join(PROBLEM_TYPES)})")
        categories[category_id] = ProblemCategory(category_id, entry.texts("aliases"))
    return categories


def _holiday_rule(file: str, raw: Any) -> HolidayRule:
    rule = EntryReader(file, "holiday_rule", raw, ("description", "postpone_days", "cancelled"))
    postpone = rule.data.get("postpone_days", 1)
    if not isinstance(postpone, int) or isinstance(postpone, bool) or not 1 <= postpone <= 6:
        raise rule.error("postpone_days", f"{show_value(postpone)} is not a number of days between 1 and 6")
    cancelled = []
    for i, text in enumerate(rule.texts("cancelled")):
        try:
            day = date.fromisoformat(f"2000-{text}")
        except ValueError:
            raise rule.error(f"cancelled[{i}]", f"'{text}' is not a month-day like '12-25'") from None
        cancelled.append((day.month, day.day))
    return HolidayRule(rule.required_text("description"), postpone, tuple(cancelled))


def _stream(file: str, stream_id: str, raw: Any) -> WasteStream:
    entry = EntryReader(file, stream_id, raw, ("name", "mode", "instructions", "booking", "phone", "url"))
    stream = WasteStream(
        id=stream_id,
        name=entry.required_text("name"),
        mode=cast(StreamMode, entry.choice("mode", ("porte_a_porte", "apport_volontaire", "rendez_vous"))),
        instructions=entry.text("instructions"),
        booking=entry.text("booking"),
        phone=phone_field(entry),
        url=entry.url("url"),
    )
    if stream.mode == "rendez_vous" and not (stream.booking and (stream.phone or stream.url)):
        raise entry.error("booking", "an on-appointment stream needs booking text and a phone or url")
    return stream


def _schedules(entry: EntryReader, streams: Mapping[str, WasteStream]) -> dict[str, StreamSchedule]:
    collection = entry.sub("collection", WASTE_STREAMS)
    schedules: dict[str, StreamSchedule] = {}
    for stream_id in collection.data:
        if streams[stream_id].mode != "porte_a_porte":
            raise collection.error(stream_id, f"'{stream_id}' is not collected door to door")
        schedule = collection.sub(stream_id, ("days", "weeks", "note"))
        days = schedule.texts("days")
        for i, day in enumerate(days):
            if day not in WEEKDAYS:
                raise schedule.error(f"days[{i}]", f"'{day}' is not a weekday (monday … sunday)")
        weeks = cast(WeekParity, schedule.choice("weeks", ("all", "even", "odd"), default="all"))
        schedules[stream_id] = StreamSchedule(tuple(WEEKDAYS.index(d) for d in days), weeks, schedule.text("note"))
    for stream_id, stream in streams.items():
        if stream.mode == "porte_a_porte" and stream_id not in schedules:
            raise collection.error(stream_id, "missing")
    return schedules


def _drop_off_points(entry: EntryReader) -> dict[str, tuple[DropOffPoint, ...]]:
    if not entry.data.get("drop_off_points"):
        return {}
    section = entry.sub("drop_off_points", WASTE_STREAMS)
    points: dict[str, tuple[DropOffPoint, ...]] = {}
    for stream_id, items in section.data.items():
        if not isinstance(items, list):
            raise section.error(stream_id, "expected a list of points")
        parsed = []
        for i, item in enumerate(items):
            point = EntryReader(
                entry.file, entry.entry, item, ("name", "address", "lat", "lon"), f"{section.path}.{stream_id}[{i}]"
            )
            lat, lon = point.number("lat", -90, 90), point.number("lon", -180, 180)
            parsed.append(DropOffPoint(point.required_text("name"), point.required_text("address"), lat, lon))
        points[stream_id] = tuple(parsed)
    return points


def _house_number(part: EntryReader, key: str) -> int | None:
    value = part.data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 99999:
        raise part.error(key, f"{show_value(value)} is not a house number")
    return value


def _street_items(entry: EntryReader) -> list[tuple[str, StreetPart | None]]:
    """The sector's streets: a name (the whole street), or {name, side: even|odd|all, first, last} (a part of it)."""
    value = entry.data.get("streets") or []
    if not isinstance(value, list):
        raise entry.error("streets", f"expected a list, got {show_value(value)}")
    items: list[tuple[str, StreetPart | None]] = []
    for i, item in enumerate(value):
        if isinstance(item, str) and item.strip():
            items.append((item.strip(), None))
            continue
        part = EntryReader(entry.file, entry.entry, item, ("name", "side", "first", "last"), f"streets[{i}]")
        side = cast(Side, part.choice("side", ("all", "even", "odd"), default="all"))
        first, last = _house_number(part, "first"), _house_number(part, "last")
        if first is not None and last is not None and last < first:
            raise part.error("last", "is below first")
        if side == "all" and first is None and last is None:
            raise part.error("side", "a part needs a side (even or odd) or bounds (first, last)")
        items.append((part.required_text("name"), StreetPart(entry.entry, side, first, last)))
    return items


def _sector(
    file: str, sector_id: str, raw: Any, streams: Mapping[str, WasteStream]
) -> tuple[WasteSector, list[tuple[str, StreetPart | None]]]:
    entry = EntryReader(file, sector_id, raw, ("id", "name", "collection", "drop_off_points", "streets"))
    sector = WasteSector(sector_id, entry.required_text("name"), _schedules(entry, streams), _drop_off_points(entry))
    return sector, _street_items(entry)


def _add_street(
    file: str, sector_id: str, index: int, streets: dict[str, Street], name: str, part: StreetPart | None
) -> None:
    """Add a whole street, or a part of a street, refusing a street in two sectors or two parts that overlap."""
    street_id = slugify(name)
    known = streets.get(street_id)
    where = f"streets[{index}]"
    if known is None:
        streets[street_id] = Street(street_id, name, sector_id, parts=(part,) if part else ())
        return
    if part is None or not known.parts:
        raise CatalogError(file, sector_id, where, f"'{name}' is already in sector '{known.sector}'")
    for other in known.parts:
        if other.overlaps(part):
            raise CatalogError(
                file, sector_id, where, f"'{name}': these numbers are already in sector '{other.sector}'"
            )
    streets[street_id] = Street(street_id, known.name, known.sector, known.aliases, (*known.parts, part))


def load_waste(path: Path) -> WasteData:
    """The waste-collection data of a waste.yml file."""
    return parse_waste(path.name, read_yaml(path))


def parse_waste(file: str, document: Any) -> WasteData:
    """The waste-collection data of a parsed waste.yml document."""
    if not isinstance(document, Mapping):
        raise CatalogError(file, "(file)", "(document)", "expected a mapping")
    raw_streams = document.get("streams")
    if not isinstance(raw_streams, Mapping):
        raise CatalogError(file, "streams", "(section)", "expected a mapping of streams")
    for stream_id in WASTE_STREAMS:
        if stream_id not in raw_streams:
            raise CatalogError(file, stream_id, "(stream)", "missing")
    for stream_id in raw_streams:
        if stream_id not in WASTE_STREAMS:
            raise CatalogError(
                file, str(stream_id), "(stream)", f"unknown stream (expected one of {', '.join(WASTE_STREAMS)})"
            )
    streams = {sid: _stream(file, sid, raw_streams[sid]) for sid in WASTE_STREAMS}
    sectors: dict[str, WasteSector] = {}
    streets: dict[str, Street] = {}
    for sector_id, raw in entries_of(file, document, "sectors"):
        sector, items = _sector(file, sector_id, raw, streams)
        sectors[sector_id] = sector
        for i, (name, part) in enumerate(items):
            _add_street(file, sector_id, i, streets, name, part)
    return WasteData(streams, sectors, streets, _holiday_rule(file, document.get("holiday_rule")))
