"""« Supprimer mes données »: a citizen's conversation, channel data and contacts go; their tickets stay, anonymised."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Sanic
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from bot.console import auth
from bot.console.schema import audit_log, conversation_reviews, create_console_schema, intent_corrections
from bot.db import create_engine_for
from bot.runtime.stores.tracker_store import GuichetTrackerStore
from bot.town.handoff import create_handoff_schema, handoff_requests
from bot.town.privacy import ERASED_SLOT, conversation_erased, erase_sender, forget_sms_identity, sender_ids_for
from bot.town.privacy.pseudonyms import sms_sender_id
from bot.town.tickets import TicketStore, create_schema
from bot.town.tickets.drafts import create_drafts_schema, pending_contacts
from bot.town.tickets.model import TicketDraft
from bot.town.tickets.schema import outbox, sms_optouts
from connectors.shared.tables import channel_offers, create_channel_tables, sms_identities
from tests.unit.console.console_seed import at, bot, store, user
from tests.unit.console.test_console_pages import ADMIN, AGENT, client_for, csrf_of, log_in, start_console

SMS_CITIZEN, OTHER = "sms:4f1a2b3c4d5e6f708192", "telegram:777002"
NUMBER = "+33536490042"
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)


def seed_citizen(engine: Engine, sender_id: str, number: str | None = None) -> str:
    """A citizen who talked, reported a problem with their phone number, and follows the ticket; returns its ref."""
    store(engine, sender_id, [user("le lampadaire rue Carnot est en panne", "report_problem", 0.93, at(20, 9)),
                              bot("Merci, c'est noté.", at(20, 9, 1))])  # fmt: skip
    ticket = TicketStore(engine, clock=lambda: NOW).create_ticket(
        TicketDraft("eclairage_public", description="lampadaire éteint, rappelez-moi au 06 12 34 56 78",
                    address="12 Rue Carnot", channel=sender_id.split(":")[0], sender_id=sender_id,
                    contact="06 12 34 56 78", idempotency_key=f"report:sms:{sender_id}:m1")
    )  # fmt: skip
    now = NOW.replace(tzinfo=None)
    with engine.begin() as conn:
        if number:
            conn.execute(sms_identities.insert().values(sender_id=sender_id, address=number, last_seen_at=now))
        conn.execute(channel_offers.insert().values(sender_id=sender_id, menu="[]", payloads="[]", offered_at=now))
        conn.execute(pending_contacts.insert().values(channel="sms", sender_id=sender_id, contact="x", updated_at=NOW))
        conn.execute(conversation_reviews.insert().values(sender_id=sender_id, reviewed=True, tags="", notes=""))
        conn.execute(
            intent_corrections.insert().values(
                event_id=hash(sender_id) % 10**6,
                sender_id=sender_id,
                text="t",
                intent="greet",
                corrected_by="a",
                corrected_at=1.0,
            )
        )
        conn.execute(
            handoff_requests.insert().values(sender_id=sender_id, channel="sms", status="closed", requested_at=1.0)
        )
        conn.execute(
            outbox.insert().values(
                kind="ticket_update",
                dedup_key=f"n:{sender_id}",
                payload={},
                channel="sms",
                recipient=sender_id,
                status="pending",
                attempts=0,
                next_attempt_at=NOW,
                created_at=NOW,
            )
        )
        conn.execute(sms_optouts.insert().values(channel="sms", sender_id=sender_id, opted_out=True, changed_at=NOW))
    return ticket.ref


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    for create in (create_schema, create_channel_tables, create_console_schema, create_drafts_schema,
                   create_handoff_schema):  # fmt: skip
        create(engine)
    yield engine
    engine.dispose()


def rows_of(engine: Engine, table: str, sender_id: str, column: str = "sender_id") -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table} WHERE {column} = :s"), {"s": sender_id}).scalar()


CONVERSATION_DATA = [("events", "sender_id"), ("sms_identities", "sender_id"), ("channel_offers", "sender_id"),
                     ("report_pending_contacts", "sender_id"), ("conversation_reviews", "sender_id"),
                     ("intent_corrections", "sender_id"), ("handoff_requests", "sender_id"),
                     ("subscriptions", "sender_id"), ("outbox", "recipient")]  # fmt: skip


@pytest.mark.parametrize(("table", "column"), CONVERSATION_DATA)
def test_citizen_erasure_removes_every_row_keyed_by_their_sender(engine: Engine, table: str, column: str) -> None:
    seed_citizen(engine, SMS_CITIZEN, NUMBER)
    seed_citizen(engine, OTHER, "+33536490043")
    assert rows_of(engine, table, SMS_CITIZEN, column) >= 1

    report = erase_sender(engine, SMS_CITIZEN)

    assert rows_of(engine, table, SMS_CITIZEN, column) == 0
    assert rows_of(engine, table, OTHER, column) >= 1  # nobody else's data
    assert report.deleted.get(table, 0) >= 1


def test_erased_citizens_tickets_stay_anonymised_with_the_description_masked(engine: Engine) -> None:
    ref = seed_citizen(engine, SMS_CITIZEN, NUMBER)

    report = erase_sender(engine, SMS_CITIZEN)

    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM tickets WHERE service_request_id = :r"), {"r": ref}).mappings().one()
    assert (row["sender_id"], row["contact"], row["idempotency_key"]) == (None, None, None)
    assert "06 12 34 56 78" not in row["description"] and "lampadaire éteint" in row["description"]
    assert row["address"] == "12 Rue Carnot" and row["state"] == "nouveau"
    assert report.tickets_anonymised == 1
    assert "1 signalement(s) anonymisé(s)" in report.summary() and NUMBER not in report.summary()


def test_an_sms_opt_out_outlives_the_erasure_so_stop_is_still_honoured(engine: Engine) -> None:
    seed_citizen(engine, SMS_CITIZEN, NUMBER)
    erase_sender(engine, SMS_CITIZEN)
    with engine.connect() as conn:
        assert conn.execute(select(sms_optouts.c.opted_out).where(sms_optouts.c.sender_id == SMS_CITIZEN)).scalar()


def test_sms_number_can_be_spared_until_the_confirmation_is_sent_then_forgotten(engine: Engine) -> None:
    seed_citizen(engine, SMS_CITIZEN, NUMBER)
    erase_sender(engine, SMS_CITIZEN, spare=frozenset({"sms_identities"}))
    assert rows_of(engine, "sms_identities", SMS_CITIZEN) == 1 and rows_of(engine, "events", SMS_CITIZEN) == 0
    assert forget_sms_identity(engine, SMS_CITIZEN) == 1
    assert rows_of(engine, "sms_identities", SMS_CITIZEN) == 0


def test_erasing_a_stranger_changes_nothing(engine: Engine) -> None:
    seed_citizen(engine, OTHER)
    report = erase_sender(engine, "webchat:nobody")
    assert report.rows_deleted == 0 and report.tickets_anonymised == 0
    assert rows_of(engine, "events", OTHER) == 2


@pytest.mark.parametrize(
    ("events", "erased"),
    [
        ([{"event": "slot", "name": ERASED_SLOT, "value": True}], True),
        ([{"event": "user", "text": "oui"}, {"event": "slot", "name": ERASED_SLOT, "value": True}], True),
        ([{"event": "slot", "name": ERASED_SLOT, "value": False}], False),
        ([{"event": "slot", "name": "service", "value": True}], False),
        ([{"event": "user", "text": "supprimer mes données"}], False),
        ([], False),
    ],
)
def test_only_the_erasure_slot_marks_a_conversation_as_erased(events: list[dict], erased: bool) -> None:
    assert conversation_erased(events) is erased


@pytest.mark.parametrize(
    ("channel", "identity", "expected"),
    [
        ("sms", "05 36 49 00 42", [SMS_CITIZEN]),
        ("sms", "+33 5 36 49 00 42", [SMS_CITIZEN]),
        ("sms", SMS_CITIZEN, [SMS_CITIZEN]),
        ("sms", "05 36 49 00 99", []),
        ("sms", "pas un numéro", []),
        ("telegram", "777002", ["telegram:777002"]),
        ("telegram", "telegram:777002", ["telegram:777002"]),
        ("web", "5f0c1d", ["webchat:5f0c1d"]),
        ("rest", "e2e-citizen", ["rest:e2e-citizen"]),
        ("rest", "rest:e2e-citizen", ["rest:e2e-citizen"]),
        ("rest", "   ", []),
    ],
)
def test_admin_finds_the_conversations_of_a_channel_identity(
    engine: Engine, channel: str, identity: str, expected: list[str]
) -> None:
    seed_citizen(engine, SMS_CITIZEN, NUMBER)
    assert sender_ids_for(engine, channel, identity) == expected


def test_admin_finds_an_sms_conversation_whose_number_retention_already_forgot(engine: Engine) -> None:
    secret = b"town-secret"
    pseudonym = sms_sender_id(secret, NUMBER)
    seed_citizen(engine, pseudonym)  # conversation, ticket, subscription... but no sms_identities row any more
    assert sender_ids_for(engine, "sms", "05 36 49 00 42") == []  # without the key, nothing links the number
    assert sender_ids_for(engine, "sms", "05 36 49 00 42", identity_secret=secret) == [pseudonym]
    assert sender_ids_for(engine, "sms", "05 36 49 00 99", identity_secret=secret) == []  # nothing stored about it


async def test_conversation_store_forgets_the_whole_conversation_when_erasure_is_confirmed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'conversations.db'}"
    tracker_store = GuichetTrackerStore(domain=Domain.empty(), host=url)
    tracker = DialogueStateTracker.from_events("webchat:abc", [UserUttered("bonjour", {"name": "greet"})])
    await tracker_store.save(tracker)
    for event in (UserUttered("supprimer mes données", {"name": "erase_my_data"}), BotUttered("Voulez-vous…"),
                  UserUttered("oui", {"name": "affirm"}), ActionExecuted("action_erase_my_data"),
                  BotUttered("C'est fait"), SlotSet(ERASED_SLOT, True), ActionExecuted("action_listen")):  # fmt: skip
        tracker.update(event)

    await tracker_store.save(tracker)

    with sqlite3.connect(tmp_path / "conversations.db") as db:
        assert db.execute("SELECT count(*) FROM events WHERE sender_id = 'webchat:abc'").fetchone() == (0,)
    assert await tracker_store.retrieve("webchat:abc") is None
    tracker_store.engine.dispose()


# --- the console's erasure page --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Sanic, "test_mode", True)
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setattr(auth, "_DUMMY_HASH", None)


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator:
    async for running in start_console(tmp_path):
        for create in (create_schema, create_channel_tables, create_drafts_schema, create_handoff_schema):
            create(running.engine)
        seed_citizen(running.engine, SMS_CITIZEN, NUMBER)
        yield running


async def erase_form(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    page = await client.get("/effacement")
    return await client.post("/effacement", data={"csrf_token": csrf_of(page.text), **fields})


async def test_admin_erases_a_citizen_by_phone_number_and_the_audit_log_keeps_no_number(console) -> None:
    async with client_for(console) as client:
        await log_in(client, ADMIN)
        response = await erase_form(client, channel="sms", identity="05 36 49 00 42", confirm="1")
    assert response.status_code == 200 and "Effacement fait" in response.text
    assert rows_of(console.engine, "events", SMS_CITIZEN) == 0
    with console.engine.connect() as conn:
        entry = conn.execute(select(audit_log).where(audit_log.c.action == "erase")).one()
    assert entry.actor == ADMIN and entry.target == "sms"
    assert "0536490042" not in f"{entry.target} {entry.detail}" and "05 36 49" not in str(entry.detail)


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"channel": "sms", "identity": "05 36 49 00 42"}, 400),  # not confirmed
        ({"channel": "fax", "identity": "05 36 49 00 42", "confirm": "1"}, 400),
        ({"channel": "sms", "identity": "", "confirm": "1"}, 400),
        ({"channel": "sms", "identity": "05 36 49 00 99", "confirm": "1"}, 404),
    ],
)
async def test_admin_erasure_needs_a_known_identity_and_a_confirmation(console, fields: dict, status: int) -> None:
    async with client_for(console) as client:
        await log_in(client, ADMIN)
        response = await erase_form(client, **fields)
    assert response.status_code == status
    assert rows_of(console.engine, "events", SMS_CITIZEN) == 2


async def test_agents_cannot_erase(console) -> None:
    async with client_for(console) as client:
        await log_in(client, AGENT)
        assert (await client.get("/effacement")).status_code == 403
    assert rows_of(console.engine, "events", SMS_CITIZEN) == 2


def test_erasure_takes_well_under_a_second(engine: Engine) -> None:
    seed_citizen(engine, SMS_CITIZEN, NUMBER)
    started = time.perf_counter()
    erase_sender(engine, SMS_CITIZEN)
    assert time.perf_counter() - started < 1.0
