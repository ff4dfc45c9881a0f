"""`action_request_human` and `action_handoff_update`: the exact events and answers, open or closed town hall."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import ActionHandoffUpdate, ActionRequestHuman, HandoffAccess
from actions.tickets_access import TicketsAccess, open_services
from bot.db import create_engine_for
from bot.settings import ROOT
from bot.town.catalog import PARIS, load_catalog
from bot.town.handoff import FakeConversationControl, HandoffStore, HandoffSweeper, create_handoff_schema
from bot.town.tickets import TicketStore

SENDER, CHANNEL = "webchat:5f0c1d2e3a4b5c6d", "webchat"
STAMP = 1_795_000_000.0
OPEN = datetime(2026, 11, 24, 10, 0, tzinfo=PARIS)  # a Tuesday morning
CLOSED = datetime(2026, 11, 27, 18, 30, tzinfo=PARIS)  # a Friday evening


@pytest.fixture
def store(tmp_path: Path) -> TicketStore:
    return TicketStore(create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}"))


@pytest.fixture
async def access(store: TicketStore) -> HandoffAccess:
    tickets = TicketsAccess(lambda: open_services(store, lambda: load_catalog(ROOT / "data" / "town")))
    access = HandoffAccess(tickets)
    await access.store()  # tables created
    return access


def tracker(text: str = "je voudrais parler a quelqu'un", intent: str = "request_human") -> Tracker:
    latest = {"text": text, "intent": {"name": intent}, "entities": [], "message_id": "m-1"}
    events = [{"event": "user", "text": text, "parse_data": latest, "input_channel": CHANNEL}]
    return Tracker(SENDER, {}, latest, events, False, None, {}, "action_listen")


async def run(action: Any, t: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, {})
    return events, dispatcher.messages


async def test_during_opening_hours_the_citizen_waits_for_a_person_and_the_bot_pauses(access: HandoffAccess) -> None:
    events, messages = await run(ActionRequestHuman(access, clock=lambda: OPEN, stamp=lambda: STAMP), tracker())

    assert events == [{"event": "pause", "timestamp": None}]
    assert [m["response"] for m in messages] == ["utter_handoff_waiting"]
    queued = (await access.store()).active()
    assert [(r.sender_id, r.channel, r.status, r.requested_at) for r in queued] == [(SENDER, CHANNEL, "waiting", STAMP)]


async def test_outside_opening_hours_a_call_back_ticket_is_created(access: HandoffAccess, store: TicketStore) -> None:
    events, messages = await run(ActionRequestHuman(access, clock=lambda: CLOSED, stamp=lambda: STAMP), tracker())

    assert events == []
    (message,) = messages
    ticket = store.tickets_of(CHANNEL, SENDER)[0]
    assert message["response"] == "utter_handoff_callback"
    assert message["ticket_ref"] == ticket.ref and message["callback_date"] == "mardi 1er décembre"
    assert (ticket.service_code, ticket.description, ticket.channel, ticket.sender_id) == (
        "autre", "Demande de rappel", CHANNEL, SENDER,
    )  # fmt: skip
    assert (await access.store()).active() == []


async def test_a_retried_turn_books_a_single_call_back(access: HandoffAccess, store: TicketStore) -> None:
    action = ActionRequestHuman(access, clock=lambda: CLOSED, stamp=lambda: STAMP)
    await run(action, tracker())
    await run(action, tracker())
    assert len(store.tickets_of(CHANNEL, SENDER)) == 1


async def test_when_the_queue_cannot_be_written_the_citizen_gets_the_town_halls_number(access: HandoffAccess) -> None:
    broken = HandoffAccess(access.tickets, HandoffStore(create_engine_for("sqlite:////nonexistent/dir/x.db")))

    events, messages = await run(ActionRequestHuman(broken, clock=lambda: OPEN), tracker())

    assert events == []
    assert messages[0]["response"] == "utter_handoff_unavailable" and messages[0]["phone"] == "05 36 49 10 00"


async def test_after_a_hand_back_the_bot_says_it_is_back(access: HandoffAccess) -> None:
    handoffs = await access.store()
    request = handoffs.open_request(SENDER, CHANNEL, STAMP)
    handoffs.take(request.id, "agent@pau.example", STAMP + 5)
    handoffs.close(request.id, STAMP + 60, "handed_back", resumed=True)

    events, messages = await run(ActionHandoffUpdate(access), tracker("", "EXTERNAL_handoff_update"))

    assert events == [] and [m["response"] for m in messages] == ["utter_handoff_ended"]


async def test_when_nobody_came_the_bot_gives_the_call_back_reference(
    access: HandoffAccess, store: TicketStore
) -> None:
    handoffs = await access.store()
    handoffs.open_request(SENDER, CHANNEL, STAMP)
    sweeper = HandoffSweeper(handoffs, store, FakeConversationControl(), timeout_seconds=300, clock=lambda: STAMP + 400)
    (request,) = await sweeper.run_once()

    events, messages = await run(ActionHandoffUpdate(access), tracker("", "EXTERNAL_handoff_update"))

    ref = handoffs.get(request.id).callback_ref  # type: ignore[union-attr]
    assert events == []
    assert messages[0]["response"] == "utter_handoff_no_agent" and messages[0]["ticket_ref"] == ref
    assert messages[0]["callback_date"]


def test_handoff_table_creation_is_idempotent(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'again.db'}")
    create_handoff_schema(engine)
    create_handoff_schema(engine)
    assert HandoffStore(engine).active() == []
