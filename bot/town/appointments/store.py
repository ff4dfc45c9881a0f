"""Calendars and bookings in the database (SQLite by default, PostgreSQL via DATABASE_URL).

Every booking is written in its own transaction that takes the lowest free desk of the slot; the partial unique index
of `schema.py` refuses a second booking of the same desk at the same start, so when two citizens (or two servers)
race for the last desk, one insert fails and that booking tries the next desk, then gives up with SlotTaken.
A pre-application number holds at most one future slot here: its bookings are serialised on a lock row.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from bot.clock import utc_now
from bot.db import insert_ignoring_conflict, read_transaction, write_transaction
from bot.town.appointments.calendar import (
    Calendar,
    Opening,
    OpeningError,
    Slot,
    check_opening,
    local_moment,
    overlapping,
    slots_between,
)
from bot.town.appointments.reasons import REASONS, normalise_application_id
from bot.town.appointments.schema import application_locks, bookings, calendars, create_schema, exceptions, openings
from bot.town.catalog.hours import PARIS, HolidayCalendar, french_holidays
from bot.town.catalog.models import Closure

if TYPE_CHECKING:
    from bot.settings import Settings

BOOKED, ATTENDED, NO_SHOW, CANCELLED = "booked", "attended", "no_show", "cancelled"
STATUSES = (BOOKED, ATTENDED, NO_SHOW, CANCELLED)
SEARCH_HORIZON_DAYS = 60  # how far ahead « the nearest free slots » are looked for
_REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud at the counter


class BookingError(Exception):
    """A booking refused; `code` says why (callers choose the citizen's wording from it)."""

    code = "refused"


class SlotTaken(BookingError):
    """Every desk of the slot is booked."""

    code = "slot_taken"


class SlotUnavailable(BookingError):
    """No such slot: outside the calendar's openings, closed that day, or already past."""

    code = "slot_unavailable"


class InvalidApplicationId(BookingError):
    """The pre-application number is not 10 letters and digits."""

    code = "invalid_application_id"


class ApplicationIdInUse(BookingError):
    """The pre-application number already holds a future slot here."""

    code = "application_id_in_use"


class BookingNotFound(BookingError):
    """No booking with that reference (for that channel identity)."""

    code = "not_found"


@dataclass(frozen=True)
class Booking:
    """A citizen's appointment: its reference, calendar, desk, times (aware UTC), number, identity and status."""

    reference: str
    calendar_id: int
    service_id: str
    reason: str
    desk: int
    start: datetime
    end: datetime
    application_id: str | None
    channel: str
    sender_id: str | None
    status: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Booking:
        """A booking from a row of bookings joined with its calendar."""
        m = row._mapping
        return cls(
            reference=m["reference"], calendar_id=m["calendar_id"], service_id=m["service_id"], reason=m["reason"],
            desk=m["desk"], start=m["start"], end=m["end"], application_id=m["application_id"],
            channel=m["channel"], sender_id=m["sender_id"], status=m["status"], created_at=m["created_at"],
        )  # fmt: skip


def new_reference() -> str:
    """An unguessable booking reference such as RDV-7KQM-3XPA (it opens the citizen's booking page)."""
    body = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"RDV-{body[:4]}-{body[4:]}"


def _booking_query() -> Any:
    return select(bookings, calendars.c.service_id, calendars.c.reason).join(
        calendars, calendars.c.id == bookings.c.calendar_id
    )


class AppointmentStore:
    """Calendars, openings, closed days and bookings; `holidays` decides public holidays (French by default)."""

    def __init__(self, engine: Engine, *, holidays: HolidayCalendar | None = None) -> None:
        self.engine = engine
        self.holidays = holidays or french_holidays()

    def create_schema(self) -> None:
        """Create the appointment tables if they do not exist."""
        create_schema(self.engine)

    # --- calendars ---------------------------------------------------------------------------------------------

    def open(
        self,
        service_id: str,
        reason: str,
        valid_from: date,
        valid_to: date,
        weekdays: Sequence[int],
        start_minute: int,
        end_minute: int,
        slot_minutes: int,
        desks: int,
        *,
        known_services: Collection[str],
        actor: str,
        now: datetime | None = None,
    ) -> Opening:
        """Open slots for a service and reason (its calendar is created on first use); OpeningError when refused."""
        if service_id not in known_services:
            known = ", ".join(sorted(known_services))
            raise OpeningError(
                f"service inconnu « {service_id} » (services : {known})",
                f"unknown service '{service_id}' (services: {known})",
            )
        if reason not in REASONS:
            known = ", ".join(REASONS)
            raise OpeningError(
                f"motif inconnu « {reason} » (motifs : {known})", f"unknown reason '{reason}' (reasons: {known})"
            )
        check_opening(valid_from, valid_to, start_minute, end_minute, slot_minutes, desks)
        now = now or utc_now()
        with write_transaction(self.engine) as conn:
            insert_ignoring_conflict(
                conn, calendars,
                {"service_id": service_id, "reason": reason, "created_at": now, "created_by": actor},
                ["service_id", "reason"],
            )  # fmt: skip
            calendar_id = conn.execute(
                select(calendars.c.id)
                .where(calendars.c.service_id == service_id, calendars.c.reason == reason)
                .with_for_update()
            ).scalar_one()
            new = Opening(0, calendar_id, valid_from, valid_to, tuple(sorted(set(weekdays))),
                          start_minute, end_minute, slot_minutes, desks)  # fmt: skip
            clash = overlapping(self._openings(conn, calendar_id), new)
            if clash is not None:
                raise OpeningError(
                    f"ces créneaux chevauchent une ouverture existante ({clash.describe()})",
                    f"these slots overlap an existing opening ({clash.describe()})",
                )
            opening_id = conn.execute(
                openings.insert().values(
                    calendar_id=calendar_id, valid_from=valid_from, valid_to=valid_to,
                    weekdays=",".join(str(d) for d in new.weekdays), start_minute=start_minute,
                    end_minute=end_minute, slot_minutes=slot_minutes, desks=desks, created_at=now, created_by=actor,
                )
            ).inserted_primary_key[0]  # fmt: skip
        return Opening(opening_id, calendar_id, *_opening_fields(new))

    def remove_opening(self, opening_id: int) -> Opening:
        """Stop offering an opening's slots (a mistake, a change of plan); the bookings already made in it stay, for
        staff to keep or cancel one by one. OpeningError when there is no such opening."""
        with write_transaction(self.engine) as conn:
            row = conn.execute(select(openings.c.calendar_id).where(openings.c.id == opening_id)).first()
            if row is None:
                raise OpeningError("ouverture inconnue", "unknown opening")
            removed = next(o for o in self._openings(conn, row.calendar_id) if o.id == opening_id)
            conn.execute(openings.delete().where(openings.c.id == opening_id))
        return removed

    def close_day(self, calendar_id: int, day: date, reason: str, *, actor: str) -> None:
        """Offer no slot of a calendar on `day` (bookings already made stay: staff cancel them one by one)."""
        if not reason.strip():
            raise OpeningError("motif manquant", "missing reason")
        with write_transaction(self.engine) as conn:
            if conn.execute(select(calendars.c.id).where(calendars.c.id == calendar_id)).first() is None:
                raise OpeningError("calendrier inconnu", "unknown calendar")
            values = {"calendar_id": calendar_id, "day": day, "reason": reason.strip(), "created_by": actor}
            insert_ignoring_conflict(conn, exceptions, values, ["calendar_id", "day"])

    def calendars(self) -> list[Calendar]:
        """Every calendar with its openings and closed days, by service and reason."""
        with read_transaction(self.engine) as conn:
            rows = conn.execute(select(calendars).order_by(calendars.c.service_id, calendars.c.reason)).all()
            return [self._calendar(conn, row) for row in rows]

    def calendar(self, calendar_id: int) -> Calendar | None:
        """One calendar, or None."""
        with read_transaction(self.engine) as conn:
            row = conn.execute(select(calendars).where(calendars.c.id == calendar_id)).first()
            return self._calendar(conn, row) if row else None

    def _calendar(self, conn: Connection, row: Any) -> Calendar:
        closed = conn.execute(
            select(exceptions.c.day, exceptions.c.reason).where(exceptions.c.calendar_id == row.id)
        ).all()
        return Calendar(row.id, row.service_id, row.reason, tuple(self._openings(conn, row.id)),
                        {day: reason for day, reason in closed})  # fmt: skip

    @staticmethod
    def _openings(conn: Connection, calendar_id: int) -> list[Opening]:
        rows = conn.execute(
            select(openings).where(openings.c.calendar_id == calendar_id).order_by(openings.c.valid_from, openings.c.id)
        ).all()
        return [
            Opening(r.id, r.calendar_id, r.valid_from, r.valid_to, tuple(int(d) for d in r.weekdays.split(",")),
                    r.start_minute, r.end_minute, r.slot_minutes, r.desks)
            for r in rows
        ]  # fmt: skip

    # --- slots -------------------------------------------------------------------------------------------------

    def slots(
        self,
        calendar: Calendar,
        first_day: date,
        last_day: date,
        *,
        closures: Sequence[Closure],
        now: datetime | None = None,
        free_only: bool = True,
    ) -> list[Slot]:
        """The slots of a calendar between two days that start after `now` (only those with a free desk, by
        default), the catalog's `closures` of its service and public holidays excluded."""
        lower = local_moment(first_day, 0).astimezone(timezone.utc)
        upper = local_moment(last_day + timedelta(days=1), 0).astimezone(timezone.utc)
        with read_transaction(self.engine) as conn:
            counted = conn.execute(
                select(bookings.c.start, func.count())
                .where(bookings.c.calendar_id == calendar.id, bookings.c.status != CANCELLED,
                       bookings.c.start >= lower, bookings.c.start < upper)
                .group_by(bookings.c.start)
            ).all()  # fmt: skip
        taken = {start: int(count) for start, count in counted}
        found = slots_between(calendar, first_day, last_day, closures=closures, holidays=self.holidays, taken=taken,
                              after=now or utc_now())  # fmt: skip
        return [slot for slot in found if slot.free > 0] if free_only else found

    def nearest_slots(
        self,
        reason: str,
        *,
        closures_of: Mapping[str, Sequence[Closure]],
        now: datetime,
        first_day: date | None = None,
        last_day: date | None = None,
        weekdays: Collection[int] = (),
        from_minute: int = 0,
        to_minute: int = 24 * 60,
        limit: int = 5,
        horizon_days: int = SEARCH_HORIZON_DAYS,
    ) -> list[tuple[Calendar, Slot]]:
        """The first free slots for `reason` in every service that offers it, soonest first: between two days
        (today and `horizon_days` later by default), on some weekdays (0 = Monday; all when empty), starting between
        two local minutes of the day (« le matin », « après 17h »). `closures_of` maps a service id to the
        catalog's closures of that service."""
        today = now.astimezone(PARIS).date()
        first = max(first_day or today, today)
        last = last_day or today + timedelta(days=horizon_days)
        found: list[tuple[Calendar, Slot]] = []
        for calendar in self.calendars():
            if calendar.reason != reason:
                continue
            for slot in self.slots(calendar, first, last, closures=closures_of.get(calendar.service_id, ()), now=now):
                local = slot.start.astimezone(PARIS)
                minute = local.hour * 60 + local.minute
                if (not weekdays or local.weekday() in weekdays) and from_minute <= minute < to_minute:
                    found.append((calendar, slot))
        return sorted(found, key=lambda pair: (pair[1].start, pair[0].service_id))[:limit]

    # --- bookings ----------------------------------------------------------------------------------------------

    def book(
        self,
        calendar_id: int,
        start: datetime,
        *,
        application_id: str | None,
        channel: str,
        sender_id: str | None,
        closures: Sequence[Closure],
        now: datetime | None = None,
        replacing: str | None = None,
    ) -> Booking:
        """Book the slot of a calendar that starts at `start` on its lowest free desk; with `replacing`, that
        booking (same identity) is cancelled in the same transaction (a change). BookingError subclasses when
        refused: the slot is not offered, every desk is taken, the number is malformed or holds a future slot."""
        now = now or utc_now()
        if start.tzinfo is None:
            raise SlotUnavailable("a slot's start is an aware datetime")
        number = None
        if application_id is not None:
            number = normalise_application_id(application_id)
            if number is None:
                raise InvalidApplicationId(application_id)
        calendar = self.calendar(calendar_id)
        if calendar is None:
            raise SlotUnavailable("unknown calendar")
        day = start.astimezone(PARIS).date()
        offered = [s for s in self.slots(calendar, day, day, closures=closures, now=now, free_only=False)
                   if s.start == start]  # fmt: skip
        if not offered:
            raise SlotUnavailable(f"no slot at {start.isoformat()}")
        slot = offered[0]
        for _attempt in range(slot.desks + 1):
            try:
                return self._insert(calendar, slot, number, channel, sender_id, now, replacing)
            except IntegrityError:
                continue  # another booking took that desk (or the reference) just now: look again
        raise SlotTaken(start.isoformat())

    def _insert(
        self,
        calendar: Calendar,
        slot: Slot,
        number: str | None,
        channel: str,
        sender_id: str | None,
        now: datetime,
        replacing: str | None,
    ) -> Booking:
        start_utc = slot.start.astimezone(timezone.utc)
        with write_transaction(self.engine) as conn:
            if replacing is not None:
                self._own_booking(conn, replacing, channel, sender_id, now)
            if number is not None:
                insert_ignoring_conflict(conn, application_locks, {"application_id": number}, ["application_id"])
                conn.execute(
                    select(application_locks).where(application_locks.c.application_id == number).with_for_update()
                ).first()
                held = conn.execute(
                    select(bookings.c.reference).where(
                        bookings.c.application_id == number, bookings.c.status == BOOKED, bookings.c.start > now,
                        bookings.c.reference != (replacing or ""),
                    )
                ).first()  # fmt: skip
                if held is not None:
                    raise ApplicationIdInUse(number)
            used = set(conn.execute(
                select(bookings.c.desk).where(bookings.c.calendar_id == calendar.id, bookings.c.start == start_utc,
                                              bookings.c.status != CANCELLED)
            ).scalars())  # fmt: skip
            desk = next((d for d in range(1, slot.desks + 1) if d not in used), None)
            if desk is None:
                raise SlotTaken(slot.start.isoformat())
            reference = new_reference()
            conn.execute(
                bookings.insert().values(
                    reference=reference, calendar_id=calendar.id, desk=desk, start=start_utc,
                    end=slot.end.astimezone(timezone.utc), application_id=number, channel=channel,
                    sender_id=sender_id, status=BOOKED, created_at=now, changed_at=now,
                    changed_by=f"{channel}:{sender_id or '-'}",
                )
            )  # fmt: skip
            if replacing is not None:
                conn.execute(bookings.update().where(bookings.c.reference == replacing)
                             .values(status=CANCELLED, changed_at=now, changed_by=f"change:{reference}"))  # fmt: skip
            row = conn.execute(_booking_query().where(bookings.c.reference == reference)).one()
        return Booking.from_row(row)

    @staticmethod
    def _own_booking(conn: Connection, reference: str, channel: str, sender_id: str | None, now: datetime) -> Any:
        """The future, active booking `reference` of this channel identity, or BookingNotFound."""
        row = conn.execute(
            select(bookings).where(bookings.c.reference == reference, bookings.c.channel == channel,
                                   bookings.c.sender_id == sender_id, bookings.c.status == BOOKED,
                                   bookings.c.start > now)
        ).first()  # fmt: skip
        if row is None or sender_id is None:
            raise BookingNotFound(reference)
        return row

    def change(
        self,
        reference: str,
        calendar_id: int,
        start: datetime,
        *,
        channel: str,
        sender_id: str | None,
        closures: Sequence[Closure],
        now: datetime | None = None,
    ) -> Booking:
        """Move a citizen's future booking to another slot, keeping its pre-application number; a new reference."""
        current = self.booking(reference)
        if current is None:
            raise BookingNotFound(reference)
        return self.book(calendar_id, start, application_id=current.application_id, channel=channel,
                         sender_id=sender_id, closures=closures, now=now, replacing=reference)  # fmt: skip

    def cancel(
        self,
        reference: str,
        *,
        actor: str,
        now: datetime | None = None,
        identity: tuple[str, str | None] | None = None,
    ) -> Booking:
        """Cancel a future booking; the slot is free again. With `identity` (channel, sender), only that citizen's
        own booking is found; without, staff cancel any booking not yet attended."""
        now = now or utc_now()
        with write_transaction(self.engine) as conn:
            if identity is not None:
                self._own_booking(conn, reference, identity[0], identity[1], now)
            updated = conn.execute(
                bookings.update()
                .where(bookings.c.reference == reference, bookings.c.status == BOOKED)
                .values(status=CANCELLED, changed_at=now, changed_by=actor)
            ).rowcount
            if updated != 1:
                raise BookingNotFound(reference)
            return Booking.from_row(conn.execute(_booking_query().where(bookings.c.reference == reference)).one())

    def mark(self, reference: str, status: str, *, actor: str, now: datetime | None = None) -> Booking:
        """Record at the counter that the citizen came (attended) or did not (no_show); booked undoes it."""
        if status not in (ATTENDED, NO_SHOW, BOOKED):
            raise ValueError(f"unknown presence {status!r}")
        with write_transaction(self.engine) as conn:
            updated = conn.execute(
                bookings.update()
                .where(bookings.c.reference == reference, bookings.c.status != CANCELLED)
                .values(status=status, changed_at=now or utc_now(), changed_by=actor)
            ).rowcount
            if updated != 1:
                raise BookingNotFound(reference)
            return Booking.from_row(conn.execute(_booking_query().where(bookings.c.reference == reference)).one())

    def booking(self, reference: str) -> Booking | None:
        """One booking by its reference, or None."""
        with read_transaction(self.engine) as conn:
            row = conn.execute(_booking_query().where(bookings.c.reference == reference)).first()
        return Booking.from_row(row) if row else None

    def bookings_on(self, day: date, *, include_cancelled: bool = False) -> list[Booking]:
        """The bookings of a local day, by time then service, for the counter."""
        lower = local_moment(day, 0).astimezone(timezone.utc)
        upper = local_moment(day + timedelta(days=1), 0).astimezone(timezone.utc)
        query = _booking_query().where(bookings.c.start >= lower, bookings.c.start < upper)
        if not include_cancelled:
            query = query.where(bookings.c.status != CANCELLED)
        with read_transaction(self.engine) as conn:
            rows = conn.execute(query.order_by(bookings.c.start, calendars.c.service_id, bookings.c.desk)).all()
        return [Booking.from_row(row) for row in rows]

    def future_bookings(
        self, *, now: datetime, application_ids: Collection[str] = (), identity: tuple[str, str] | None = None
    ) -> list[Booking]:
        """Active bookings still to come, of some pre-application numbers or of one channel identity."""
        conditions = [bookings.c.status == BOOKED, bookings.c.start > now]
        if application_ids:
            conditions.append(bookings.c.application_id.in_(list(application_ids)))
        if identity is not None:
            conditions += [bookings.c.channel == identity[0], bookings.c.sender_id == identity[1]]
        if not application_ids and identity is None:
            return []
        with read_transaction(self.engine) as conn:
            rows = conn.execute(_booking_query().where(and_(*conditions)).order_by(bookings.c.start)).all()
        return [Booking.from_row(row) for row in rows]


def _opening_fields(opening: Opening) -> tuple[Any, ...]:
    return (opening.valid_from, opening.valid_to, opening.weekdays, opening.start_minute, opening.end_minute,
            opening.slot_minutes, opening.desks)  # fmt: skip


def appointment_store_from_settings(settings: Settings | None = None) -> AppointmentStore:
    """The appointment store of the processes (DATABASE_URL or the embedded SQLite file), its tables created."""
    from bot.db import create_engine_for
    from bot.settings import get_settings

    settings = settings or get_settings()
    if settings.database_url is None:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    store = AppointmentStore(create_engine_for(settings.effective_database_url))
    store.create_schema()
    return store
