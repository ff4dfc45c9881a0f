"""Satisfaction after closing: asked once to the citizen who follows their ticket, the answer stored, the rates."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from bot.db import create_engine_for
from bot.town.notify import FakeNotifier, RasaNotifier
from bot.town.privacy.erasure import erase_sender
from bot.town.privacy.retention import purge
from bot.town.tickets import OutboxStore, OutboxWorker, TicketDraft, TicketStore, create_schema
from bot.town.tickets.model import OutboxJob
from bot.town.tickets.satisfaction import SATISFACTION_INTENT, SATISFACTION_KIND, SatisfactionStore

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=timezone.utc)
SENDER = "telegram:42"


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine) -> TicketStore:  # type: ignore[no-untyped-def]
    return TicketStore(engine, clock=lambda: NOW)


def report(store: TicketStore, *, channel: str = "telegram", sender: str | None = SENDER, code: str = "voirie") -> str:
    draft = TicketDraft(code, "un trou", "rue Carnot", channel=channel, sender_id=sender)
    return store.create_ticket(draft).ref


def questions(engine) -> list:  # type: ignore[no-untyped-def]
    return OutboxStore(engine).jobs(kind=SATISFACTION_KIND)


@pytest.mark.parametrize("state", ["traite", "non_retenu"])
def test_closing_a_ticket_asks_its_citizen_once(engine, store: TicketStore, state: str) -> None:  # type: ignore[no-untyped-def]
    ref = report(store)
    store.set_status(ref, "pris_en_charge", actor="agent")
    assert questions(engine) == []  # not closed yet
    store.set_status(ref, state, "fait", "agent", reason="hors compétence")
    store.set_status(ref, "pris_en_charge", actor="agent")
    store.set_status(ref, state, "fait", "agent", reason="hors compétence")  # reopened and closed again

    (job,) = questions(engine)
    assert (job.channel, job.recipient, job.payload) == ("telegram", SENDER, {"ticket_ref": ref})


def test_nobody_is_asked_about_a_ticket_without_a_citizen_to_reach(engine, store: TicketStore) -> None:  # type: ignore[no-untyped-def]
    ref = store.create_ticket(TicketDraft("voirie", "x", channel="open311", subscribe_creator=False)).ref
    store.set_status(ref, "traite", actor="agent")
    assert questions(engine) == []


def test_a_citizen_whose_data_was_erased_is_not_asked(engine, store: TicketStore) -> None:  # type: ignore[no-untyped-def]
    ref = report(store)
    erase_sender(engine, SENDER)
    store.set_status(ref, "traite", actor="agent")
    assert questions(engine) == []


async def test_a_citizen_who_sent_stop_is_not_asked(engine, store: TicketStore) -> None:  # type: ignore[no-untyped-def]
    ref = report(store, channel="sms", sender="sms:abc")
    OutboxStore(engine).set_optout("sms", "sms:abc", True, NOW)
    store.set_status(ref, "traite", actor="agent")
    notifier = FakeNotifier()
    await OutboxWorker(OutboxStore(engine), notifier, clock=lambda: NOW + timedelta(seconds=1)).run_once()
    assert notifier.sent == [] and [j.status for j in questions(engine)] == ["cancelled"]


def test_the_first_answer_of_the_citizen_asked_is_stored(engine, store: TicketStore) -> None:  # type: ignore[no-untyped-def]
    ref = report(store)
    answers = SatisfactionStore(engine)
    assert answers.record(ref, "telegram", SENDER, True, NOW) is False  # not asked yet
    store.set_status(ref, "traite", actor="agent")
    assert answers.record(ref, "telegram", "telegram:intrus", False, NOW) is False  # someone else
    assert answers.record(ref, "telegram", SENDER, True, NOW) is True
    assert answers.record(ref, "telegram", SENDER, False, NOW) is False  # answered already
    assert answers.answer_of(ref) is True


def test_rates_per_category_and_per_channel(engine, store: TicketStore) -> None:  # type: ignore[no-untyped-def]
    answers = SatisfactionStore(engine)
    given = [("telegram", "telegram:1", "voirie", True), ("telegram", "telegram:2", "voirie", False),
             ("sms", "sms:3", "voirie", True), ("webchat", "webchat:4", "proprete", True)]  # fmt: skip
    for channel, sender, code, satisfied in given:
        ref = report(store, channel=channel, sender=sender, code=code)
        store.set_status(ref, "traite", actor="agent")
        assert answers.record(ref, channel, sender, satisfied, NOW)
    report(store, channel="sms", sender="sms:5")  # asked nothing: not counted

    per_category, per_channel = answers.rates(NOW - timedelta(days=1), NOW + timedelta(days=1))

    assert [(r.key, r.satisfied, r.answered) for r in per_category] == [("proprete", 1, 1), ("voirie", 2, 3)]
    assert [(r.key, r.rate) for r in per_channel] == [("sms", 1.0), ("telegram", 0.5), ("webchat", 1.0)]
    assert answers.rates(NOW + timedelta(days=1), NOW + timedelta(days=2)) == ([], [])


async def test_the_question_reaches_the_rasa_server_as_the_satisfaction_intent() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={})

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    notifier = RasaNotifier("http://127.0.0.1:5005", "jeton", client=client, intent=SATISFACTION_INTENT)
    job = OutboxJob(1, SATISFACTION_KIND, "k", {"ticket_ref": "PAU-2026-000001"}, "telegram", SENDER, "sending", 1, NOW)
    await notifier.send(job)
    await client.aclose()

    (call,) = calls
    assert call.url.path == f"/conversations/{SENDER}/trigger_intent"
    assert json.loads(call.content) == {"name": "EXTERNAL_satisfaction", "entities": {"ticket_ref": "PAU-2026-000001"}}


def test_retention_keeps_the_answer_but_forgets_who_gave_it(engine) -> None:  # type: ignore[no-untyped-def]
    ref = report(TicketStore(engine, clock=lambda: NOW - timedelta(days=400)))
    TicketStore(engine, clock=lambda: NOW - timedelta(days=300)).set_status(ref, "traite", actor="agent")
    assert SatisfactionStore(engine).record(ref, "telegram", SENDER, True, NOW - timedelta(days=300))

    purge(engine, timedelta(days=180), now=NOW)

    assert SatisfactionStore(engine).answer_of(ref) is True
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT sender_id FROM ticket_satisfaction").scalars().all() == [""]
