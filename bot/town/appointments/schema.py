"""Tables of the appointments: calendars (a service and a reason), their opening patterns and closed days, bookings.

Two citizens never hold the same slot: a partial unique index on (calendar, desk, start) over the bookings that are
not cancelled makes the database refuse the second one, whichever process or server wrote the first.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Engine

from bot.db import create_tables
from bot.town.tickets.schema import UtcDateTime

metadata = MetaData()

calendars = Table(
    "appointment_calendars",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("service_id", String(100), nullable=False),
    Column("reason", String(40), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    UniqueConstraint("service_id", "reason", name="uq_appointment_calendars_service_reason"),
)

openings = Table(
    "appointment_openings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("calendar_id", Integer, ForeignKey("appointment_calendars.id", ondelete="CASCADE"), nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=False),
    Column("weekdays", String(20), nullable=False),  # "1,3": Tuesday and Thursday (0 = Monday)
    Column("start_minute", Integer, nullable=False),  # local time, minutes since midnight
    Column("end_minute", Integer, nullable=False),
    Column("slot_minutes", Integer, nullable=False),
    Column("desks", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Index("ix_appointment_openings_calendar", "calendar_id"),
)

exceptions = Table(
    "appointment_exceptions",
    metadata,
    Column("calendar_id", Integer, ForeignKey("appointment_calendars.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("reason", Text, nullable=False),
    Column("created_by", String(200), nullable=False),
)

bookings = Table(
    "appointment_bookings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("reference", String(20), nullable=False, unique=True),
    Column("calendar_id", Integer, ForeignKey("appointment_calendars.id"), nullable=False),
    Column("desk", Integer, nullable=False),
    Column("start", UtcDateTime, nullable=False),
    Column("end", UtcDateTime, nullable=False),
    Column("application_id", String(10)),
    Column("channel", String(40), nullable=False),
    Column("sender_id", String(200)),
    # booked -> attended | no_show | cancelled
    Column("status", String(12), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    Column("changed_by", String(200), nullable=False),
    Index("ix_appointment_bookings_start", "start"),
    Index("ix_appointment_bookings_application", "application_id"),
    Index("ix_appointment_bookings_sender", "channel", "sender_id"),
)

Index(
    "uq_appointment_bookings_slot",
    bookings.c.calendar_id,
    bookings.c.desk,
    bookings.c.start,
    unique=True,
    sqlite_where=bookings.c.status != "cancelled",
    postgresql_where=bookings.c.status != "cancelled",
)

# One row per pre-application number ever booked: bookings of one number lock it, so two at once cannot both pass
# the "no second future slot" check.
application_locks = Table(
    "appointment_application_locks",
    metadata,
    Column("application_id", String(10), primary_key=True),
)


def create_schema(engine: Engine) -> None:
    """Create the appointment tables that do not exist yet (safe at every start, from several processes)."""
    create_tables(metadata, engine)
