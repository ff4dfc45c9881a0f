"""Calendars and their free slots: opening patterns staff type, days the counter is closed, and slot arithmetic.

A calendar is one catalog service and one reason (« passeport à la mairie »). Its openings say on which weekdays,
between which local hours, in slots of how many minutes and at how many desks citizens are received, from one date
to another. Slots are computed, never stored: a slot exists when an opening covers it and the day is not a public
holiday, a calendar exception or inside one of the service's exceptional closures in the catalog.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from bot.town.appointments.reasons import REASON_LABELS
from bot.town.catalog.hours import PARIS, HolidayCalendar
from bot.town.catalog.models import Closure

WEEKDAY_CODES: dict[str, int] = {
    "mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6,
    "lun": 0, "mar": 1, "mer": 2, "jeu": 3, "ven": 4, "sam": 5, "dim": 6,
}  # fmt: skip
WEEKDAY_NAMES = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MAX_DESKS = 50
MAX_SPAN_DAYS = 366 * 2
_HOURS = re.compile(r"^\s*(\d{1,2})[:h](\d{2})\s*-\s*(\d{1,2})[:h](\d{2})\s*$")


class OpeningError(ValueError):
    """An opening pattern or booking request that cannot be accepted; French for staff, English for scripts."""

    def __init__(self, french: str, english: str) -> None:
        self.french, self.english = french, english
        super().__init__(f"{french} / {english}")


@dataclass(frozen=True)
class Opening:
    """When a calendar receives citizens: weekdays (0 = Monday), local hours in minutes, slot length, desks."""

    id: int
    calendar_id: int
    valid_from: date
    valid_to: date
    weekdays: tuple[int, ...]
    start_minute: int
    end_minute: int
    slot_minutes: int
    desks: int

    def covers(self, day: date) -> bool:
        """Whether the opening applies on that date."""
        return self.valid_from <= day <= self.valid_to and day.weekday() in self.weekdays

    def starts(self) -> list[int]:
        """The minutes of the day at which its slots start (the last one ends by `end_minute`)."""
        return list(range(self.start_minute, self.end_minute - self.slot_minutes + 1, self.slot_minutes))

    def describe(self) -> str:
        """« mardi, jeudi 09:00–12:00, créneaux de 20 min, 2 guichets, du 2027-01-05 au 2027-03-31 »."""
        days = ", ".join(WEEKDAY_NAMES[d] for d in self.weekdays)
        desks = f"{self.desks} guichet{'s' if self.desks > 1 else ''}"
        return (
            f"{days} {_hhmm(self.start_minute)}–{_hhmm(self.end_minute)}, créneaux de {self.slot_minutes} min, "
            f"{desks}, du {self.valid_from.isoformat()} au {self.valid_to.isoformat()}"
        )


@dataclass(frozen=True)
class Calendar:
    """A service and a reason, with their openings and the days they are closed (day -> why)."""

    id: int
    service_id: str
    reason: str
    openings: tuple[Opening, ...] = ()
    closed_days: Mapping[date, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """« passeport (mairie) »."""
        return f"{REASON_LABELS.get(self.reason, self.reason)} ({self.service_id})"


@dataclass(frozen=True)
class Slot:
    """A bookable moment of a calendar: start and end (aware, in the town's zone), desks in all, desks free."""

    calendar_id: int
    start: datetime
    end: datetime
    desks: int
    free: int


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_weekdays(text: str) -> tuple[int, ...]:
    """`mon,tue,…` (or French `lun,mar,…`) as sorted weekday numbers; OpeningError otherwise."""
    days: set[int] = set()
    for part in (p.strip().lower()[:3] for p in (text or "").split(",") if p.strip()):
        if part not in WEEKDAY_CODES:
            raise OpeningError(
                f"--days : jour inconnu « {part} » (mon,tue,wed,thu,fri,sat,sun)",
                f"--days: unknown day '{part}' (mon,tue,wed,thu,fri,sat,sun)",
            )
        days.add(WEEKDAY_CODES[part])
    if not days:
        raise OpeningError("--days : aucun jour donné", "--days: no day given")
    return tuple(sorted(days))


def parse_hours(text: str) -> tuple[int, int]:
    """`HH:MM-HH:MM` as (start, end) minutes of the day; OpeningError when malformed or empty."""
    match = _HOURS.match(text or "")
    if not match:
        raise OpeningError(
            f"--hours : « {text} » n'est pas une plage HH:MM-HH:MM", f"--hours: '{text}' is not HH:MM-HH:MM"
        )
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise OpeningError(f"--hours : heure impossible dans « {text} »", f"--hours: impossible time in '{text}'")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start:
        raise OpeningError(
            f"--hours : la fin précède le début dans « {text} »", f"--hours: the end is before the start in '{text}'"
        )
    return start, end


def check_opening(
    valid_from: date, valid_to: date, start_minute: int, end_minute: int, slot_minutes: int, desks: int
) -> None:
    """Refuse an opening that would offer nothing or make no sense (OpeningError naming the option)."""
    if valid_to < valid_from:
        raise OpeningError(
            f"--to {valid_to} précède --from {valid_from}", f"--to {valid_to} is before --from {valid_from}"
        )
    if (valid_to - valid_from).days > MAX_SPAN_DAYS:
        raise OpeningError("période de plus de deux ans : ouvrez-la en plusieurs fois", "period longer than two years")
    if not 5 <= slot_minutes <= 240:
        raise OpeningError("--every : entre 5 et 240 minutes", "--every: between 5 and 240 minutes")
    if slot_minutes > end_minute - start_minute:
        raise OpeningError("--every : le créneau dépasse la plage horaire", "--every: the slot is longer than --hours")
    if not 1 <= desks <= MAX_DESKS:
        raise OpeningError(f"--desks : entre 1 et {MAX_DESKS}", f"--desks: between 1 and {MAX_DESKS}")


def overlapping(existing: Iterable[Opening], new: Opening) -> Opening | None:
    """An existing opening that would offer the same minutes on a same day as `new`, if one does."""
    for opening in existing:
        same_period = opening.valid_from <= new.valid_to and new.valid_from <= opening.valid_to
        same_days = set(opening.weekdays) & set(new.weekdays)
        same_hours = opening.start_minute < new.end_minute and new.start_minute < opening.end_minute
        if same_period and same_days and same_hours:
            return opening
    return None


def day_closed(day: date, calendar: Calendar, closures: Sequence[Closure], holidays: HolidayCalendar) -> str | None:
    """Why no whole-day slot is offered on `day` (holiday, calendar exception, whole-day catalog closure), or None."""
    holiday = holidays.holiday_name(day)
    if holiday:
        return holiday
    if day in calendar.closed_days:
        return calendar.closed_days[day]
    for closure in closures:
        if closure.covers(day) and closure.whole_day:
            return closure.reason
    return None


def slots_between(
    calendar: Calendar,
    first_day: date,
    last_day: date,
    *,
    closures: Sequence[Closure],
    holidays: HolidayCalendar,
    taken: Mapping[datetime, int],
    after: datetime,
) -> list[Slot]:
    """The slots of `calendar` from `first_day` to `last_day` (inclusive) that start after `after`, in order.

    `taken` counts the active bookings per start (UTC); a slot whose desks are all taken is still listed, with
    free == 0, so the counter sees it; callers offering slots keep those with free > 0.
    """
    slots: list[Slot] = []
    day = first_day
    while day <= last_day:
        if day_closed(day, calendar, closures, holidays) is None:
            slots.extend(_day_slots(calendar, day, closures, taken, after))
        day += timedelta(days=1)
    return sorted(slots, key=lambda slot: slot.start)


def _day_slots(
    calendar: Calendar, day: date, closures: Sequence[Closure], taken: Mapping[datetime, int], after: datetime
) -> Iterable[Slot]:
    partial = [c.window for c in closures if c.covers(day) and not c.whole_day]
    for opening in calendar.openings:
        if not opening.covers(day):
            continue
        for minute in opening.starts():
            end_minute = minute + opening.slot_minutes
            if any(window.start < end_minute and minute < window.end for window in partial):
                continue
            start = local_moment(day, minute)
            if start <= after:
                continue
            used = taken.get(start.astimezone(timezone.utc), 0)
            end = start + timedelta(minutes=opening.slot_minutes)
            yield Slot(calendar.id, start, end, opening.desks, max(0, opening.desks - used))


def local_moment(day: date, minute: int) -> datetime:
    """The aware moment of a local (town) minute of the day."""
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=PARIS)


def slots_for_documents(slots: Sequence[Slot], documents: int) -> list[Slot]:
    """The slots at which `documents` applications can be received one after the other: the slot and the
    `documents - 1` that follow it without a gap all have a free desk (`slots` in order, free ones only)."""
    if documents <= 1:
        return list(slots)
    by_start = {slot.start: slot for slot in slots}
    kept = []
    for slot in slots:
        current, run = slot, 1
        while run < documents and current.end in by_start:
            current, run = by_start[current.end], run + 1
        if run == documents:
            kept.append(slot)
    return kept
