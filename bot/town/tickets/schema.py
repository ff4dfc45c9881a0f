"""Tables of the ticket store: tickets, their history and followers, the outbox and what it delivers, SMS opt-outs,
counters, and the consent a citizen gave to be told a ticket's news at their contact."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
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
from sqlalchemy.types import TypeDecorator

from bot.db import add_missing_columns, create_tables

NORMAL_PRIORITY = "normal"
URGENT_PRIORITY = "urgent"


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite has no time zones: store naive UTC, read back aware)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ticket store; pass an aware datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:  # type: ignore[no-untyped-def]
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


metadata = MetaData()

tickets = Table(
    "tickets",
    metadata,
    Column("id", Integer, primary_key=True),
    # Open311 GeoReport v2 fields
    Column("service_request_id", String(32), nullable=False, unique=True),
    Column("service_code", String(40), nullable=False),
    Column("status", String(8), nullable=False),
    Column("status_notes", Text),
    Column("description", Text, nullable=False, default=""),
    Column("address", String(300)),
    Column("lat", Float),
    Column("long", Float),
    Column("media_url", String(1000)),
    Column("requested_datetime", UtcDateTime, nullable=False),
    Column("updated_datetime", UtcDateTime, nullable=False),
    Column("expected_datetime", UtcDateTime),
    # Guichet's superset
    Column("state", String(20), nullable=False),
    Column("state_reason", Text),
    Column("street", String(200)),
    Column("channel", String(40), nullable=False),
    Column("sender_id", String(200)),
    Column("contact", String(300)),
    Column("idempotency_key", String(200), unique=True),
    # "urgent" for a danger (gas, fallen cable, flooding, collapse, fire): first in the console, staff alerted.
    Column("priority", String(10), nullable=False, server_default=NORMAL_PRIORITY),
    # The external back office's copy (OPEN311_FORWARD_URL): its id (or the token it gave until the id is known)
    # and the last status and notes seen there, so that only a change of theirs is passed on to the citizen.
    Column("external_id", String(200)),
    Column("external_token", String(200)),
    Column("external_status", String(8)),
    Column("external_notes", Text),
    Index("ix_tickets_open_category", "status", "service_code"),
    Index("ix_tickets_sender", "channel", "sender_id"),
    Index("ix_tickets_requested", "requested_datetime"),
)

ticket_history = Table(
    "ticket_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("state", String(20), nullable=False),
    Column("status", String(8), nullable=False),
    Column("note", Text),
    Column("reason", Text),
    Column("actor", String(200), nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(40), nullable=False),
    Column("sender_id", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("ticket_id", "channel", "sender_id", name="uq_subscriptions_follower"),
    Index("ix_subscriptions_sender", "channel", "sender_id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("dedup_key", String(300), nullable=False, unique=True),
    Column("payload", JSON, nullable=False),
    Column("channel", String(40)),
    Column("recipient", String(1000)),
    # pending -> sending (claimed) -> sent (handed over, the citizen has not got it yet) -> delivered;
    # or sending -> delivered (the platform accepted it); or failed (retry later) -> ... -> dead; or cancelled (opt-out)
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("locked_until", UtcDateTime),
    Column("last_error", Text),
    Column("response", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    Index("ix_outbox_due", "status", "next_attempt_at"),
)

# Messages rendered for a citizen who was not there to receive them (a web chat tab closed): kept until their
# session comes back, then emitted to it; delivered_at is when that happened (the outbox job is then `delivered`).
held_messages = Table(
    "held_messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job_id", Integer, ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("channel", String(40), nullable=False),
    Column("sender_id", String(200), nullable=False),
    Column("messages", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime),
    Index("ix_held_messages_waiting", "channel", "sender_id", "delivered_at"),
)

# A row means: the citizen who reported this ticket agreed to get its updates at the ticket's contact when their
# own channel cannot deliver them (asked by the report form right after the contact).
contact_consents = Table(
    "ticket_contact_consents",
    metadata,
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("given_at", UtcDateTime, nullable=False),
)

sms_optouts = Table(
    "sms_optouts",
    metadata,
    Column("channel", String(40), primary_key=True),
    Column("sender_id", String(200), primary_key=True),
    Column("opted_out", Boolean, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
)

ticket_counters = Table(
    "ticket_counters",
    metadata,
    Column("prefix", String(10), primary_key=True),
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("value", Integer, nullable=False),
)


def create_schema(engine: Engine) -> None:
    """Create the ticket tables that do not exist yet and add the columns a database of an older Guichet lacks
    (safe to call at every start)."""
    create_tables(metadata, engine)
    add_missing_columns(tickets, engine)


# Whether the answer suited the citizen, asked once when their ticket is closed (bot/town/tickets/satisfaction.py).
ticket_satisfaction = Table(
    "ticket_satisfaction",
    metadata,
    Column("ticket_id", Integer, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True, autoincrement=False),
    Column("channel", String(40), nullable=False),
    Column("sender_id", String(200), nullable=False),  # erasing the citizen's data deletes the row (bot/town/privacy)
    Column("asked_at", UtcDateTime, nullable=False),
    Column("satisfied", Boolean),  # None until the citizen answers
    Column("answered_at", UtcDateTime),
)
