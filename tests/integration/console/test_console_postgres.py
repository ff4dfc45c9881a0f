"""The console's SQL on the real PostgreSQL server (JSON paths, GROUP BY, regex): a throw-away database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from bot.console.analytics import compute_analytics
from bot.console.conversations import ConversationFilter, list_conversations, load_transcript
from bot.console.review import export_corrections, misunderstood_messages, record_correction, save_review
from bot.console.schema import create_console_schema
from bot.db import create_engine_for
from bot.town.tickets.schema import create_schema as create_ticket_schema
from bot.town.tickets.schema import ticket_history, tickets
from tests.unit.console.console_seed import PARIS, seed_town_conversations

pytestmark = pytest.mark.postgres

SERVER_URL = os.environ.get("GUICHET_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    admin = create_engine_for(SERVER_URL).execution_options(isolation_level="AUTOCOMMIT")
    name = f"guichet_console_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine_for(make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False))
    try:
        create_console_schema(engine)
        seed_town_conversations(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["3b1f-rest-client", "webchat:9d2e44", "sms:9a8b7c6d5e4f3a2b1c0d", "telegram:777001", "webchat:5f0c1d"]),
        ({"canal": "rest"}, ["3b1f-rest-client"]),
        ({"confiance_max": "0.5"}, ["3b1f-rest-client", "webchat:9d2e44"]),
        ({"ticket": "oui"}, ["telegram:777001"]),
        ({"q": "MEDIATHEQUE"}, ["webchat:5f0c1d"]),
        ({"du": "2026-11-22", "au": "2026-11-23"}, ["webchat:9d2e44", "sms:9a8b7c6d5e4f3a2b1c0d"]),
    ],
)
def test_filters_work_on_postgresql(engine: Engine, query: dict[str, str], expected: list[str]) -> None:
    page = list_conversations(engine, ConversationFilter.from_query(query), tz=PARIS)
    assert [c.sender_id for c in page.items] == expected


def test_reviews_queue_and_corrections_on_postgresql(engine: Engine, tmp_path) -> None:
    save_review(engine, "sms:9a8b7c6d5e4f3a2b1c0d", reviewed=True, tags=["rappel"], notes="", actor="a@pau.fr")
    tagged = list_conversations(engine, ConversationFilter(tag="rappel", reviewed=True), tz=PARIS)
    assert [c.sender_id for c in tagged.items] == ["sms:9a8b7c6d5e4f3a2b1c0d"]
    queue = {m.text: m for m in misunderstood_messages(engine)}
    assert set(queue) == {"comment on fait pour un passeport", "ou est la piscine", "blablabla zorglub"}
    record_correction(engine, queue["blablabla zorglub"].event_id, "out_of_scope", actor="a@pau.fr")
    assert export_corrections(engine, tmp_path / "corrections.yml") == 1
    transcript = load_transcript(engine, "telegram:777001")
    assert transcript is not None and transcript.ticket_refs == ["PAU-2026-000123"]


def test_analytics_on_postgresql(engine: Engine) -> None:
    create_ticket_schema(engine)
    requested = datetime(2026, 11, 21, 9, tzinfo=timezone.utc)
    with engine.begin() as conn:
        ticket_id = conn.execute(tickets.insert().values(
            service_request_id="PAU-2026-000777", service_code="voirie", status="closed", description="",
            requested_datetime=requested, updated_datetime=requested, state="traite", channel="sms",
        )).inserted_primary_key[0]  # fmt: skip
        conn.execute(
            ticket_history.insert().values(
                ticket_id=ticket_id,
                state="traite",
                status="closed",
                actor="agent",
                changed_at=requested + timedelta(hours=6),
            )
        )
    a = compute_analytics(engine, date(2026, 11, 19), date(2026, 11, 26), tz=PARIS)
    assert (a.conversations, a.messages, a.fallbacks, a.handoffs) == (5, 8, 1, 1)
    assert a.confidence_histogram == [0, 0, 0, 1, 1, 0, 0, 1, 1, 4]
    assert a.tickets_per_category == [("voirie", 1)] and a.median_hours_to_done == pytest.approx(6)
