"""Opening-hours reasoning in the town's time zone: open now, closes when, open on a day, next opening."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

import holidays as holidays_lib

from bot.town.catalog.models import Service, TimeRange, WeekSchedule

PARIS = ZoneInfo("Europe/Paris")
FRENCH_WEEKDAYS: tuple[str, ...] = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_ENGLISH_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HORIZON_DAYS = 400  # how far ahead to look for a next opening before giving up


class HolidayCalendar(Protocol):
    """Tells whether a date is a public holiday."""

    def holiday_name(self, day: date) -> str | None:
        """The holiday's name, or None on an ordinary day."""
        ...


class FrenchHolidays:
    """French public holidays (metropolitan France) from the `holidays` package, names in French."""

    def __init__(self) -> None:
        self._years: dict[int, holidays_lib.HolidayBase] = {}

    def holiday_name(self, day: date) -> str | None:
        """The holiday's French name, or None on an ordinary day."""
        if day.year not in self._years:
            self._years[day.year] = holidays_lib.country_holidays("FR", years=day.year, language="fr")
        return self._years[day.year].get(day)


@functools.lru_cache(maxsize=1)
def french_holidays() -> FrenchHolidays:
    """The shared French holiday calendar (built on first use)."""
    return FrenchHolidays()


@dataclass(frozen=True)
class DayHours:
    """A service's opening ranges on one date, and why they differ from the usual week if they do."""

    day: date
    ranges: tuple[TimeRange, ...]
    holiday: str | None = None  # public holiday name, when the date is one
    closure: str | None = None  # reason of an exceptional closure that removed some or all of the ranges
    season: str | None = None  # name of the seasonal period in force

    @property
    def is_open(self) -> bool:
        """Whether the service opens at all that day."""
        return bool(self.ranges)


@dataclass(frozen=True)
class OpenStatus:
    """Whether a service is open at a moment, until when, and when it next opens."""

    at: datetime  # the moment asked about, in Europe/Paris
    is_open: bool
    today: DayHours
    closes_at: datetime | None  # end of the current range, when open
    closes_in: timedelta | None
    next_opening: datetime | None  # next opening after now (when closed) or after closes_at (when open)
    opens_in: timedelta | None  # time until next_opening, when closed


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("expected an aware datetime (with a time zone)")
    return moment.astimezone(PARIS)


def local_datetime(day: date, minute: int) -> datetime:
    """The aware Europe/Paris datetime of a minute of the day (1440 is midnight at the end of the day)."""
    if minute >= 1440:
        day, minute = day + timedelta(days=1), minute - 1440
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=PARIS)


def elapsed(start: datetime, end: datetime) -> timedelta:
    """Real time between two aware datetimes (DST-safe: computed in UTC)."""
    return end.astimezone(timezone.utc) - start.astimezone(timezone.utc)


def _subtract(ranges: tuple[TimeRange, ...], window: TimeRange) -> tuple[TimeRange, ...]:
    kept: list[TimeRange] = []
    for r in ranges:
        if r.start < window.start:
            kept.append(TimeRange(r.start, min(r.end, window.start)))
        if r.end > window.end:
            kept.append(TimeRange(max(r.start, window.end), r.end))
    return tuple(kept)


def week_for(service: Service, day: date) -> tuple[WeekSchedule, str | None]:
    """The week schedule in force on a date and the name of its seasonal period (None for the usual week)."""
    for season in service.seasons:
        if season.covers(day):
            return season.hours, season.name
    return service.hours, None


def hours_on(service: Service, day: date, calendar: HolidayCalendar | None = None) -> DayHours:
    """The service's opening ranges on a date, with public holidays, seasons and exceptional closures applied."""
    calendar = calendar or french_holidays()
    week, season = week_for(service, day)
    holiday = calendar.holiday_name(day)
    ranges = week.public_holidays if holiday else week.ranges_for(day.weekday())
    closure = None
    for item in service.closures:
        if item.covers(day):
            reduced = _subtract(ranges, item.window)
            if reduced != ranges:
                ranges, closure = reduced, closure or item.reason
    return DayHours(day, ranges, holiday, closure, season)


def weekday_index(weekday: int | str) -> int:
    """0 = Monday, from an index or a French or English weekday name ("lundi", "Samedi", "sunday")."""
    if isinstance(weekday, int):
        if not 0 <= weekday <= 6:
            raise ValueError(f"{weekday} is not a weekday index")
        return weekday
    name = weekday.strip().lower()
    for names in (FRENCH_WEEKDAYS, _ENGLISH_WEEKDAYS):
        if name in names:
            return names.index(name)
    raise ValueError(f"'{weekday}' is not a weekday")


def hours_on_weekday(
    service: Service, weekday: int | str, now: datetime, calendar: HolidayCalendar | None = None
) -> DayHours:
    """Hours on the next such weekday from today (today included), e.g. "open on Saturday?"."""
    today = _local(now).date()
    offset = (weekday_index(weekday) - today.weekday()) % 7
    return hours_on(service, today + timedelta(days=offset), calendar)


def today_hours(service: Service, now: datetime, calendar: HolidayCalendar | None = None) -> DayHours:
    """Today's ranges in Europe/Paris."""
    return hours_on(service, _local(now).date(), calendar)


def week_hours(service: Service, start: date, calendar: HolidayCalendar | None = None) -> list[DayHours]:
    """The seven days from `start`, with holidays and closures applied."""
    return [hours_on(service, start + timedelta(days=i), calendar) for i in range(7)]


def next_opening(service: Service, after: datetime, calendar: HolidayCalendar | None = None) -> datetime | None:
    """The first opening strictly after `after` (Europe/Paris), or None when none within a year."""
    calendar = calendar or french_holidays()
    local = _local(after)
    for offset in range(_HORIZON_DAYS):
        day = local.date() + timedelta(days=offset)
        for r in hours_on(service, day, calendar).ranges:
            start = local_datetime(day, r.start)
            if start > local:
                return start
    return None


def status_at(service: Service, now: datetime, calendar: HolidayCalendar | None = None) -> OpenStatus:
    """Whether the service is open at `now`, when it closes, and when it next opens."""
    calendar = calendar or french_holidays()
    local = _local(now)
    today = hours_on(service, local.date(), calendar)
    minute = local.hour * 60 + local.minute
    current = next((r for r in today.ranges if r.contains(minute)), None)
    if current is not None:
        closes_at = local_datetime(today.day, current.end)
        reopening = next_opening(service, closes_at, calendar)
        return OpenStatus(local, True, today, closes_at, elapsed(local, closes_at), reopening, None)
    opening = next_opening(service, local, calendar)
    opens_in = elapsed(local, opening) if opening else None
    return OpenStatus(local, False, today, None, None, opening, opens_in)


def is_open_at(service: Service, moment: datetime, calendar: HolidayCalendar | None = None) -> bool:
    """Whether the service is open at that moment."""
    return status_at(service, moment, calendar).is_open


def closes_at(service: Service, now: datetime, calendar: HolidayCalendar | None = None) -> datetime | None:
    """When the current opening range ends, or None when closed."""
    return status_at(service, now, calendar).closes_at
