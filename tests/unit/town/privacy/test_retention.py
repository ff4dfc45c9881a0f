"""Retention: `python -m bot purge --older-than 180d` removes the old, keeps tickets, the audit log and the recent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.__main__ import main
from bot.console.auth import record_audit
from bot.console.schema import conversation_reviews, create_console_schema, staff_sessions, staff_users
from bot.db import create_engine_for
from bot.town.privacy import parse_age, purge, purge_daily
from bot.town.tickets import TicketStore, create_schema
from bot.town.tickets.model import TicketDraft
from bot.town.tickets.schema import outbox, subscriptions
from connectors.shared.tables import channel_deliveries, channel_offers, create_channel_tables, sms_identities
from tests.unit.console.console_seed import bot, store, user

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
OLD, RECENT = NOW - timedelta(days=200), NOW - timedelta(days=3)


def naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    for create in (create_schema, create_channel_tables, create_console_schema):
        create(engine)
    yield engine
    engine.dispose()


def conversation(engine: Engine, sender_id: str, first: datetime, last: datetime) -> None:
    store(engine, sender_id, [user("bonjour", "greet", 0.99, first.timestamp()), bot("Bonjour !", last.timestamp())])
    with engine.begin() as conn:
        conn.execute(channel_offers.insert().values(sender_id=sender_id, menu="[]", payloads="[]",
                                                    offered_at=naive(last)))  # fmt: skip
        conn.execute(conversation_reviews.insert().values(sender_id=sender_id, reviewed=False, tags="", notes=""))


def count(engine: Engine, table: str, where: str = "1=1") -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar()


@pytest.mark.parametrize(
    ("written", "days"),
    [("180d", 180), ("180", 180), ("180j", 180), (" 30 d ", 30), ("4w", 28), ("48h", 2), ("12H", 0.5)],
)
def test_operator_writes_the_retention_period_as_they_say_it(written: str, days: float) -> None:
    assert parse_age(written) == timedelta(days=days)


@pytest.mark.parametrize("written", ["", "0d", "-5d", "180 days", "d", "1.5d", "6 mois"])
def test_a_period_that_is_not_one_is_refused(written: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_age(written)


def test_conversations_idle_beyond_the_period_go_with_their_offers_and_reviews(engine: Engine) -> None:
    conversation(engine, "sms:old", OLD, OLD + timedelta(minutes=5))
    conversation(engine, "telegram:recent", RECENT, RECENT)
    conversation(engine, "webchat:long", OLD, RECENT)  # started long ago, still talking: kept whole

    report = purge(engine, timedelta(days=180), now=NOW)

    assert report.conversations == 1
    assert count(engine, "events", "sender_id = 'sms:old'") == 0
    assert count(engine, "conversation_reviews", "sender_id = 'sms:old'") == 0
    assert count(engine, "events", "sender_id = 'telegram:recent'") == 2
    assert count(engine, "events", "sender_id = 'webchat:long'") == 2


def test_tickets_and_the_audit_log_are_kept_whatever_their_age(engine: Engine) -> None:
    TicketStore(engine, clock=lambda: OLD).create_ticket(TicketDraft("voirie", "nid de poule", sender_id="sms:old"))
    with engine.begin() as conn:
        record_audit(conn, "admin@pau.example", "erase", "sms", "3 lignes", now=OLD.timestamp())
    purge(engine, timedelta(days=180), now=NOW)
    assert count(engine, "tickets") == 1 and count(engine, "audit_log") == 1


def test_short_lived_channel_data_goes_after_two_days(engine: Engine) -> None:
    with engine.begin() as conn:
        for delivery, at in (("old", NOW - timedelta(days=3)), ("fresh", NOW - timedelta(hours=5))):
            conn.execute(channel_deliveries.insert().values(channel="sms", delivery_id=delivery, received_at=naive(at)))
        conn.execute(staff_users.insert().values(email="a@pau.example", role="admin", password_hash="x", active=True,
                                                 created_at=OLD.timestamp()))  # fmt: skip
        for token, seen in (("a" * 64, NOW - timedelta(days=3)), ("b" * 64, NOW - timedelta(minutes=5))):
            conn.execute(
                staff_sessions.insert().values(
                    token_hash=token,
                    user_id=1,
                    csrf_token="c",
                    created_at=seen.timestamp(),
                    last_seen_at=seen.timestamp(),
                )
            )
    purge(engine, timedelta(days=180), now=NOW)
    assert count(engine, "channel_deliveries") == 1 and count(engine, "channel_deliveries", "delivery_id='fresh'") == 1
    assert count(engine, "staff_sessions") == 1


def test_finished_outbox_jobs_go_but_pending_ones_are_never_lost(engine: Engine) -> None:
    with engine.begin() as conn:
        for key, status in (("sent", "sent"), ("dead", "dead"), ("pending", "pending"), ("failed", "failed")):
            conn.execute(outbox.insert().values(kind="ticket_update", dedup_key=key, payload={}, status=status,
                                                attempts=1, next_attempt_at=OLD, created_at=OLD))  # fmt: skip
    purge(engine, timedelta(days=180), now=NOW)
    with engine.connect() as conn:
        left = sorted(conn.execute(text("SELECT status FROM outbox")).scalars())
    assert left == ["failed", "pending"]


def test_old_delivered_updates_go_with_what_they_held_but_a_held_update_of_a_live_job_stays(engine: Engine) -> None:
    from bot.town.tickets.schema import held_messages

    with engine.begin() as conn:
        for key, status, created in (("delivered", "delivered", OLD), ("waiting", "sent", NOW)):
            job_id = conn.execute(outbox.insert().values(
                kind="ticket_update", dedup_key=key, payload={}, status=status, channel="webchat",
                recipient=f"webchat:{key}", attempts=1, next_attempt_at=created, created_at=created,
            )).inserted_primary_key[0]  # fmt: skip
            conn.execute(held_messages.insert().values(job_id=job_id, channel="webchat", sender_id=f"webchat:{key}",
                                                       messages=[{"text": "x"}], created_at=created))  # fmt: skip
    purge(engine, timedelta(days=180), now=NOW)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM outbox")).scalars().all() == ["sent"]
        assert conn.execute(text("SELECT sender_id FROM held_messages")).scalars().all() == ["webchat:waiting"]


def test_phone_numbers_go_when_unseen_or_orphaned_but_stay_while_following_a_ticket(engine: Engine) -> None:
    ticket = TicketStore(engine, clock=lambda: OLD).create_ticket(
        TicketDraft("voirie", "nid de poule", channel="sms", sender_id="sms:follower")
    )
    conversation(engine, "sms:talking", RECENT, RECENT)
    with engine.begin() as conn:
        for sender, seen in (("sms:unseen", OLD), ("sms:follower", OLD), ("sms:talking", RECENT),
                             ("sms:erased", RECENT)):  # fmt: skip
            conn.execute(sms_identities.insert().values(sender_id=sender, address="+33536490001",
                                                        last_seen_at=naive(seen)))  # fmt: skip
    assert count(engine, "subscriptions", f"ticket_id = {ticket.id}") == 1

    purge(engine, timedelta(days=180), now=NOW)

    with engine.connect() as conn:
        kept = sorted(conn.execute(text("SELECT sender_id FROM sms_identities")).scalars())
    assert kept == ["sms:follower", "sms:talking"]


def test_a_dry_run_counts_without_deleting(engine: Engine) -> None:
    conversation(engine, "sms:old", OLD, OLD)
    report = purge(engine, timedelta(days=180), now=NOW, dry_run=True)
    assert report.dry_run and report.conversations == 1 and report.rows["events"] == 2
    assert "would be purged" in report.summary()
    assert count(engine, "events") == 2


def test_purge_command_line_reports_and_refuses_a_bad_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.settings import get_settings

    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["purge", "--older-than", "180d", "--dry-run"]) == 0
        assert "would be purged" in capsys.readouterr().out
        assert main(["purge", "--older-than", "six mois"]) == 2
        assert "not a duration" in capsys.readouterr().err
    finally:
        get_settings.cache_clear()


async def test_daily_purge_runs_at_once_and_stops_when_asked(engine: Engine) -> None:
    conversation(engine, "sms:old", OLD, OLD)
    stop = asyncio.Event()
    task = asyncio.create_task(purge_daily(engine, timedelta(days=1), stop, interval_seconds=3600))
    for _ in range(100):
        if count(engine, "events") == 0:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert count(engine, "events") == 0


def test_subscriptions_are_not_touched_by_the_purge(engine: Engine) -> None:
    TicketStore(engine, clock=lambda: OLD).create_ticket(TicketDraft("voirie", "x", channel="sms", sender_id="sms:a"))
    purge(engine, timedelta(days=180), now=NOW)
    assert count(engine, subscriptions.name) == 1


def test_tickets_closed_beyond_the_period_are_anonymised_and_lose_their_followers(engine: Engine) -> None:
    def ticket(sender: str, closed_at: datetime | None) -> str:
        created = TicketStore(engine, clock=lambda: OLD).create_ticket(
            TicketDraft("voirie", "trou rue Carnot, rappelez le 06 12 34 56 78", channel="sms", sender_id=sender,
                        contact="06 12 34 56 78", idempotency_key=f"k:{sender}")
        )  # fmt: skip
        if closed_at is not None:
            TicketStore(engine, clock=lambda: closed_at).set_status(created.ref, "traite", note="Rebouché.")
        return created.ref

    old_closed, recent_closed, old_open = ticket("sms:a", OLD), ticket("sms:b", RECENT), ticket("sms:c", None)

    dry = purge(engine, timedelta(days=180), now=NOW, dry_run=True)
    assert dry.anonymised_tickets == 1 and "1 closed ticket(s) would be anonymised" in dry.summary()
    report = purge(engine, timedelta(days=180), now=NOW)

    assert report.anonymised_tickets == 1 and report.rows["subscriptions"] == 1
    with engine.connect() as conn:
        rows = {r["service_request_id"]: r for r in conn.execute(text("SELECT * FROM tickets")).mappings()}
    anonymised = rows[old_closed]
    assert (anonymised["sender_id"], anonymised["contact"], anonymised["idempotency_key"]) == (None, None, None)
    assert "06 12 34 56 78" not in anonymised["description"] and "trou rue Carnot" in anonymised["description"]
    assert anonymised["state"] == "traite"  # the town's record stays
    for kept in (recent_closed, old_open):
        assert rows[kept]["contact"] == "06 12 34 56 78" and rows[kept]["sender_id"] is not None
    assert count(engine, "subscriptions") == 2
    assert purge(engine, timedelta(days=180), now=NOW).anonymised_tickets == 0  # done once
