"""Waste collection: the next collection dates of a street's sector, with the public-holiday rule applied."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from bot.town.catalog.hours import HolidayCalendar, french_holidays
from bot.town.catalog.models import (
    WASTE_STREAMS,
    DropOffPoint,
    HolidayRule,
    StreamSchedule,
    Street,
    WasteData,
    WasteSector,
    WasteStream,
)

_SEARCH_DAYS = 120  # a door-to-door stream is collected at least once in this many days


@dataclass(frozen=True)
class Collection:
    """One collection: its regular date and the date it really happens (None when cancelled)."""

    regular: date
    actual: date | None
    holiday: str | None = None  # the public holiday that moved or cancelled it

    @property
    def moved(self) -> bool:
        """Postponed because of a public holiday."""
        return self.actual is not None and self.actual != self.regular

    @property
    def cancelled(self) -> bool:
        """Cancelled because of a public holiday."""
        return self.actual is None


@dataclass(frozen=True)
class StreamCollection:
    """How one stream is collected for a street: schedule and next dates, drop-off points, or booking."""

    stream: WasteStream
    schedule: StreamSchedule | None = None
    upcoming: tuple[Collection, ...] = ()
    drop_off_points: tuple[DropOffPoint, ...] = ()


@dataclass(frozen=True)
class StreetCollection:
    """The collection sector of a street (of one house number, when the street is split) and, per stream, how and
    when it is collected."""

    street: Street
    sector: WasteSector
    streams: dict[str, StreamCollection]
    holiday_rule: HolidayRule
    number: int | None = None  # the house number that chose the sector of a split street

    @property
    def place(self) -> str:
        """The street as answered: "40 Avenue de Lons" for a split street, else its name."""
        if self.number is not None and self.street.split:
            return f"{self.number} {self.street.name}"
        return self.street.name


class HouseNumberNeeded(LookupError):
    """The street is split between sectors and no house number (or one in no part of it) was given."""

    def __init__(self, street: Street, number: int | None = None) -> None:
        self.street, self.number = street, number
        super().__init__(f"{street.name}: the house number decides the sector (given: {number})")


def apply_holiday_rule(regular: date, rule: HolidayRule, calendar: HolidayCalendar) -> Collection:
    """A regular collection date after the holiday rule: unchanged, postponed past holidays, or cancelled."""
    holiday = calendar.holiday_name(regular)
    if holiday is None:
        return Collection(regular, regular)
    if (regular.month, regular.day) in rule.cancelled:
        return Collection(regular, None, holiday)
    actual = regular + timedelta(days=rule.postpone_days)
    while calendar.holiday_name(actual) is not None:
        actual += timedelta(days=1)
    return Collection(regular, actual, holiday)


def next_collections(
    schedule: StreamSchedule, rule: HolidayRule, today: date, count: int = 2, calendar: HolidayCalendar | None = None
) -> tuple[Collection, ...]:
    """The next `count` collections from `today` (included), postponed or cancelled ones included."""
    calendar = calendar or french_holidays()
    found: list[Collection] = []
    seen: set[date] = set()
    day = today - timedelta(days=rule.postpone_days + 3)  # an earlier collection may be postponed to today or later
    while len(found) < count and day <= today + timedelta(days=_SEARCH_DAYS):
        if schedule.is_collection_day(day):
            collection = apply_holiday_rule(day, rule, calendar)
            when = collection.actual or collection.regular
            if when >= today and (collection.actual is None or collection.actual not in seen):
                found.append(collection)
                if collection.actual:
                    seen.add(collection.actual)
        day += timedelta(days=1)
    return tuple(found)


def collection_for(
    waste: WasteData,
    street: Street,
    today: date,
    count: int = 2,
    calendar: HolidayCalendar | None = None,
    number: int | None = None,
) -> StreetCollection:
    """The sector of the street (of that house number) and, per stream, its next collections, drop-off points or
    booking details. HouseNumberNeeded when the street is split and the number does not say which part."""
    sector_id = street.sector_for(number)
    if sector_id is None:
        raise HouseNumberNeeded(street, number)
    sector = waste.sectors[sector_id]
    streams: dict[str, StreamCollection] = {}
    for stream_id in WASTE_STREAMS:
        stream = waste.streams[stream_id]
        schedule = sector.schedules.get(stream_id)
        upcoming = next_collections(schedule, waste.holiday_rule, today, count, calendar) if schedule else ()
        streams[stream_id] = StreamCollection(stream, schedule, upcoming, sector.drop_off_points.get(stream_id, ()))
    return StreetCollection(street, sector, streams, waste.holiday_rule, number)
