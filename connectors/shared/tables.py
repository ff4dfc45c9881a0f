"""Tables the channels persist: deliveries seen, SMS identities, opt-outs and long answers' next parts, buttons
offered per sender, phone turns."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table, Text
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

# The phone channel's turns: each (CallSid, turn) answered once, its TwiML kept to answer a repeated delivery the same
# way. `pending` is a low-confidence transcript awaiting the caller's « oui »; `misses` counts misunderstandings in a
# row; `topic` is what the switchboard agent hears before a transfer. Purged with the conversations (retention).
voice_turns = Table(
    "voice_turns",
    metadata,
    Column("call_sid", String(64), primary_key=True),
    Column("turn", Integer, primary_key=True),
    Column("sender_id", String(200), nullable=False),
    Column("twiml", Text),  # NULL while the turn is being answered
    Column("pending", Text),
    Column("offer", String(20)),  # what a yes/no answer of the next turn means: confirm, switchboard
    Column("misses", Integer, nullable=False, default=0),
    Column("topic", Text),
    Column("created_at", DateTime, nullable=False),  # naive UTC
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
