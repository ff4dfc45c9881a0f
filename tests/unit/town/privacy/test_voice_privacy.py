"""Phone calls under the privacy rules: an admin erases a caller by phone number, and retention purges calls."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select

from bot.db import create_engine_for
from bot.town.privacy import erase_senders, sender_ids_for
from bot.town.privacy.pseudonyms import voice_sender_id
from bot.town.privacy.retention import purge
from connectors.shared.tables import create_channel_tables, voice_turns
from tests.unit.console.console_seed import bot, store, user

SECRET = b"identity-test-secret"
NUMBER = "+33559012345"
CALLER = voice_sender_id(SECRET, NUMBER)
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)


def seed_call(engine, sender_id: str, when: datetime) -> None:
    """A call: its conversation in Rasa's events, and its turns in the phone channel's table."""
    store(engine, sender_id, [user("horaires de la mairie", "ask_opening_hours", 0.95, when.timestamp()),
                              bot("Ouvert de neuf heures à midi.", when.timestamp() + 1)])  # fmt: skip
    create_channel_tables(engine)
    with engine.begin() as conn:
        conn.execute(voice_turns.insert().values(call_sid=f"CA{sender_id[-6:]}", turn=1, sender_id=sender_id,
                                                 twiml="<Response/>", misses=0,
                                                 created_at=when.replace(tzinfo=None)))  # fmt: skip


def turns_of(engine, sender_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(voice_turns.c.sender_id == sender_id)).scalar_one()


def test_an_admin_finds_a_callers_conversation_from_the_number_said_at_the_desk(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    seed_call(engine, CALLER, NOW)
    assert sender_ids_for(engine, "voice", "05 59 01 23 45", identity_secret=SECRET) == [CALLER]
    assert sender_ids_for(engine, "voice", CALLER, identity_secret=SECRET) == [CALLER]
    assert sender_ids_for(engine, "voice", "05 59 99 99 99", identity_secret=SECRET) == []
    report = erase_senders(engine, [CALLER])
    assert report.deleted["events"] == 2 and report.deleted["voice_turns"] == 1
    assert turns_of(engine, CALLER) == 0


def test_retention_purges_old_calls_and_call_turns_after_two_days(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    recent, old = voice_sender_id(SECRET, "+33600000001"), voice_sender_id(SECRET, "+33600000002")
    seed_call(engine, recent, NOW - timedelta(days=3))
    seed_call(engine, old, NOW - timedelta(days=200))
    purge(engine, timedelta(days=180), now=NOW)
    with engine.connect() as conn:
        senders = set(conn.exec_driver_sql("SELECT sender_id FROM events").scalars())
    assert senders == {recent}  # the transcript stays for the retention period
    assert turns_of(engine, recent) == 0 and turns_of(engine, old) == 0  # the turns only for the call itself
