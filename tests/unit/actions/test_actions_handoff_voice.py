"""On the phone, « parler à quelqu'un » transfers the call in the town hall's hours and says when to call back
otherwise: no queue in the console, no call-back ticket (a caller cannot wait in a chat window)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import ActionRequestHuman, HandoffAccess
from actions.tickets_access import TicketsAccess, open_services
from bot.db import create_engine_for
from bot.settings import ROOT
from bot.town.catalog import PARIS, load_catalog
from bot.town.tickets import TicketStore

SENDER = "voice:0123456789abcdef0123"
OPEN = datetime(2026, 11, 24, 10, 0, tzinfo=PARIS)  # a Tuesday morning
CLOSED = datetime(2026, 11, 27, 18, 30, tzinfo=PARIS)  # a Friday evening


@pytest.fixture
def store(tmp_path: Path) -> TicketStore:
    return TicketStore(create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}"))


@pytest.fixture
async def access(store: TicketStore) -> HandoffAccess:
    tickets = TicketsAccess(lambda: open_services(store, lambda: load_catalog(ROOT / "data" / "town")))
    access = HandoffAccess(tickets)
    await access.store()
    return access


def call(*said: str) -> Tracker:
    events = [{"event": "user", "text": text, "input_channel": "voice"} for text in said]
    latest = {"text": said[-1], "intent": {"name": "request_human"}, "entities": []}
    return Tracker(SENDER, {}, latest, events, False, None, {}, "action_listen")


async def run(clock: datetime, access: HandoffAccess, tracker: Tracker) -> tuple[list[Any], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await ActionRequestHuman(access, clock=lambda: clock).run(dispatcher, tracker, {})
    return events, dispatcher.messages


async def test_in_the_town_halls_hours_the_call_is_transferred_with_the_callers_question(
    access: HandoffAccess, store: TicketStore
) -> None:
    events, messages = await run(OPEN, access, call("/greet", "ma carte d'identité est perdue", "parler à quelqu'un"))
    assert events == []
    assert [m.get("response") for m in messages] == ["utter_voice_transfer", None]
    assert messages[1]["custom"] == {"voice": "transfer", "topic": "ma carte d'identité est perdue"}
    assert (await access.store()).active() == [] and store.tickets_of("voice", SENDER) == []


async def test_outside_hours_the_caller_hears_when_the_town_hall_reopens_and_the_call_ends(
    access: HandoffAccess, store: TicketStore
) -> None:
    events, messages = await run(CLOSED, access, call("parler à quelqu'un"))
    assert events == []
    assert messages[0]["response"] == "utter_voice_switchboard_closed"
    assert messages[0]["next_opening"] == "lundi à 8h30"
    assert messages[1]["custom"] == {"voice": "hangup"}
    assert store.tickets_of("voice", SENDER) == []
