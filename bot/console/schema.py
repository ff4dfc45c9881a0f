"""Tables of the staff console: accounts, sessions, login attempts and lock-outs, password resets, audit log, reviews
and intent corrections."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Engine

from bot.db import create_tables

# Times are stored as UTC epoch seconds (floats), like Rasa's `events.timestamp`: no time-zone trouble on SQLite.
metadata = MetaData()

staff_users = Table(
    "staff_users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("role", String(10), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", Float, nullable=False),
)

staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    # SHA-256 of the cookie's random token: a stolen database does not give working cookies.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_seen_at", Float, nullable=False),
)

login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(254), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("succeeded", Boolean, nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_login_attempts_email_at", "email", "at"),
    Index("ix_login_attempts_ip_at", "ip", "at"),
)

# One row per e-mail address tried (an account or not, so both answer alike): its consecutive failures and the
# time until which it is locked. Claimed in the same transaction that records the attempt, before any hashing.
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("email", String(254), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("locked_until", Float, nullable=False, default=0.0),
    Column("updated_at", Float, nullable=False, index=True),
)

# An account whose password an admin reset: the temporary password serves one login, then must be changed.
staff_password_resets = Table(
    "staff_password_resets",
    metadata,
    Column("user_id", Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True),
    Column("set_by", String(254), nullable=False),
    Column("set_at", Float, nullable=False),
    Column("used_at", Float),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("actor", String(254), nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", String(300)),
    Column("detail", Text),
    Column("at", Float, nullable=False, index=True),
)

conversation_reviews = Table(
    "conversation_reviews",
    metadata,
    Column("sender_id", String(255), primary_key=True),
    Column("reviewed", Boolean, nullable=False, default=False),
    # Normalised tags between commas (",panne,urgent,") so one LIKE finds a whole tag.
    Column("tags", Text, nullable=False, default=""),
    Column("notes", Text, nullable=False, default=""),
    Column("updated_by", String(254)),
    Column("updated_at", Float),
)

intent_corrections = Table(
    "intent_corrections",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", Integer, nullable=False, unique=True),
    Column("sender_id", String(255), nullable=False),
    Column("text", Text, nullable=False),  # masked, as it goes into training data
    Column("original_intent", String(255)),
    Column("intent", String(255), nullable=False),
    Column("corrected_by", String(254), nullable=False),
    Column("corrected_at", Float, nullable=False),
)


def create_console_schema(engine: Engine) -> None:
    """Create the console's tables if they are missing (safe to call at every start)."""
    create_tables(metadata, engine)
