"""Tables the channels persist: deliveries seen, SMS identities, opt-outs and long answers' next parts, buttons
offered per sender."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, MetaData, String, Table, Text
from sqlalchemy.engine import Engine

from bot.db import create_engine_for, create_tables

metadata = MetaData()

channel_deliveries = Table(
    "channel_deliveries",
    metadata,
    Column("channel", String(40), primary_key=True),
    Column("delivery_id", String(100), primary_key=True),
    Column("received_at", DateTime, nullable=False),  # naive UTC
)

sms_identities = Table(
    "sms_identities",
    metadata,
    Column("sender_id", String(200), primary_key=True),
    Column("address", String(40), nullable=False),  # E.164 number; read only to send
    Column("last_seen_at", DateTime, nullable=False),
)

# Same definition as bot/town/tickets/schema.py so whichever side creates it first, both can use it.
sms_optouts = Table(
    "sms_optouts",
    metadata,
    Column("channel", String(40), primary_key=True),
    Column("sender_id", String(200), primary_key=True),
    Column("opted_out", Boolean, nullable=False),
    Column("changed_at", DateTime, nullable=False),  # naive UTC
)

channel_offers = Table(
    "channel_offers",
    metadata,
    Column("sender_id", String(200), primary_key=True),
    Column("menu", Text, nullable=False),  # JSON list of the last buttons offered
    Column("payloads", Text, nullable=False),  # JSON list of recently offered payloads
    Column("offered_at", DateTime, nullable=False),  # naive UTC
)


sms_continuations = Table(
    "sms_continuations",
    metadata,
    Column("sender_id", String(200), primary_key=True),
    Column("data", Text, nullable=False),  # JSON: the parts of a long answer still to send, and the last part's menu
    Column("kept_at", DateTime, nullable=False),  # naive UTC
)


def create_channel_engine(url: str) -> Engine:
    """The engine the channels' stores use (the project's shared engine factory)."""
    return create_engine_for(url)


def create_channel_tables(engine: Engine) -> None:
    """Create the channels' tables if they do not exist yet."""
    create_tables(metadata, engine)
