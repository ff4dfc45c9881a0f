"""`action_request_human` and `action_handoff_update`: the exact events and answers, with or without an agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import ActionHandoffUpdate, ActionRequestHuman, HandoffAccess
from actions.tickets_access import TicketsAccess, open_services
from bot.db import create_engine_for
from bot.settings import ROOT
from bot.town.catalog import load_catalog
from bot.town.handoff import AgentPresence, FakeConversationControl, HandoffStore, HandoffSweeper, create_handoff_schema
from bot.town.tickets import TicketStore

SENDER, CHANNEL = "webchat:5f0c1d2e3a4b5c6d", "webchat"
STAMP = 1_795_000_000.0
AGENT = "agent@pau.example"


@pytest.fixture
def store(tmp_path: Path) -> TicketStore:
    return TicketStore(create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}"))


@pytest.fixture
async def access(store: TicketStore) -> HandoffAccess:
    tickets = TicketsAccess(lambda: open_services(store, lambda: load_catalog(ROOT / "data" / "town")))
    access = HandoffAccess(tickets, presence=AgentPresence(store.engine, presence_seconds=30))
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


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "timestamp": None, "name": name, "value": value}


async def test_with_an_agent_present_the_citizen_is_queued_told_their_place_and_the_bot_pauses(
    access: HandoffAccess,
) -> None:
    (await access.presence()).set_available(AGENT, True, STAMP - 10)
    handoffs = await access.store()
    handoffs.open_request("telegram:ahead", "telegram", STAMP - 5)  # one citizen already waits

    events, messages = await run(ActionRequestHuman(access, stamp=lambda: STAMP), tracker())

    assert events == [slot("handoff_mode", "live"), {"event": "pause", "timestamp": None}]
    (message,) = messages
    assert (message["response"], message["queue_place"], message["wait_minutes"]) == ("utter_handoff_waiting", 2, 6)
    queued = handoffs.active()
    assert [(r.sender_id, r.status, r.requested_at) for r in queued][-1] == (SENDER, "waiting", STAMP)


async def test_with_no_agent_present_a_call_back_is_offered_and_nothing_is_queued(access: HandoffAccess) -> None:
    events, messages = await run(ActionRequestHuman(access, stamp=lambda: STAMP), tracker())

    assert events == [slot("handoff_mode", "callback")]
    assert [m["response"] for m in messages] == ["utter_handoff_callback_offer"]
    assert (await access.store()).active() == []


async def test_an_agent_whose_page_stopped_polling_counts_as_absent(access: HandoffAccess) -> None:
    (await access.presence()).set_available(AGENT, True, STAMP - 31)

    events, _ = await run(ActionRequestHuman(access, stamp=lambda: STAMP), tracker())

    assert events == [slot("handoff_mode", "callback")]


async def test_when_the_queue_cannot_be_read_the_call_back_is_still_offered(access: HandoffAccess) -> None:
    broken_engine = create_engine_for("sqlite:////nonexistent/dir/x.db")
    broken = HandoffAccess(
        access.tickets, HandoffStore(broken_engine), AgentPresence(broken_engine, presence_seconds=30)
    )

    events, messages = await run(ActionRequestHuman(broken, stamp=lambda: STAMP), tracker())

    assert events == [slot("handoff_mode", "callback")]
    assert [m["response"] for m in messages] == ["utter_handoff_callback_offer"]


async def test_after_a_hand_back_the_bot_says_it_is_back(access: HandoffAccess) -> None:
    handoffs = await access.store()
    request = handoffs.open_request(SENDER, CHANNEL, STAMP)
    handoffs.take(request.id, AGENT, STAMP + 5)
    handoffs.close(request.id, STAMP + 60, "handed_back", resumed=True)

    events, messages = await run(ActionHandoffUpdate(access), tracker("", "EXTERNAL_handoff_update"))

    assert events == [slot("handoff_mode", None)] and [m["response"] for m in messages] == ["utter_handoff_ended"]


async def test_when_nobody_came_the_bot_offers_the_call_back(access: HandoffAccess) -> None:
    handoffs = await access.store()
    handoffs.open_request(SENDER, CHANNEL, STAMP)
    sweeper = HandoffSweeper(handoffs, FakeConversationControl(), timeout_seconds=300, clock=lambda: STAMP + 400)
    await sweeper.run_once()

    events, messages = await run(ActionHandoffUpdate(access), tracker("", "EXTERNAL_handoff_update"))

    assert events == [slot("handoff_mode", "callback")]
    assert [m["response"] for m in messages] == ["utter_handoff_no_agent"]


def test_handoff_table_creation_is_idempotent(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'again.db'}")
    create_handoff_schema(engine)
    create_handoff_schema(engine)
    assert HandoffStore(engine).active() == []
    assert AgentPresence(engine, presence_seconds=30).available_agents(0.0) == []
