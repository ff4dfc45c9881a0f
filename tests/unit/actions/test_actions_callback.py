"""The call-back form and its actions: the number validated and echoed masked, the question, the ticket, the delay."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.callback import ActionCallbackCancel, ActionCallbackCreate, ValidateCallbackForm, callback_channel
from actions.handoff import HandoffAccess
from actions.tickets_access import TicketsAccess, open_services
from bot.db import create_engine_for
from bot.settings import ROOT
from bot.town.catalog import PARIS, load_catalog
from bot.town.handoff import AgentPresence, FakeConversationControl, HandoffSweeper
from bot.town.tickets import TicketStore

DOMAIN: dict[str, Any] = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
CHANNEL, SENDER = "sms", "sms:7a1b"
TUESDAY_EVENING = datetime(2026, 11, 24, 19, 0, tzinfo=PARIS)
SLOTS = ("callback_phone", "callback_question", "requested_slot", "handoff_mode", "ticket_ref")


@pytest.fixture
def store(tmp_path: Path) -> TicketStore:
    return TicketStore(create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}"))


@pytest.fixture
def access(store: TicketStore) -> TicketsAccess:
    return TicketsAccess(lambda: open_services(store, lambda: load_catalog(ROOT / "data" / "town")))


@pytest.fixture
async def handoffs(access: TicketsAccess, store: TicketStore) -> HandoffAccess:
    handoffs = HandoffAccess(access, presence=AgentPresence(store.engine, presence_seconds=30))
    await handoffs.store()
    return handoffs


def tracker(text: str, intent: str = "inform", *, requested: str | None = None, **slots: Any) -> Tracker:
    latest = {"text": text, "intent": {"name": intent}, "entities": [], "message_id": "m-7"}
    events = [
        {"event": "user", "text": text, "parse_data": latest, "input_channel": CHANNEL},
        {"event": "action", "name": "callback_form"},
    ]
    values = {slot: None for slot in SLOTS} | {"requested_slot": requested} | slots
    return Tracker(SENDER, values, latest, events, False, None, {"name": "callback_form"}, "action_listen")


async def validate(access: TicketsAccess, t: Tracker) -> tuple[dict[str, Any], list[str]]:
    dispatcher = CollectingDispatcher()
    events = await ValidateCallbackForm(access).run(dispatcher, t, DOMAIN)
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}, [m["response"] for m in dispatcher.messages]


async def run(action: Any, t: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    return await action.run(dispatcher, t, DOMAIN), dispatcher.messages


async def test_a_french_number_is_kept_server_side_and_echoed_masked(access: TicketsAccess) -> None:
    slots, said = await validate(access, tracker("c'est le 06 12 34 56 78", requested="callback_phone"))

    assert slots["callback_phone"] == "06 •• •• •• 78" and said == []
    contacts = (await access.services()).contacts
    assert await contacts.get(callback_channel(CHANNEL), SENDER) == "+33612345678"


@pytest.mark.parametrize("text", ["12 34", "oui", "+44 20 7946 0958", "06 12 34 56"])
async def test_an_invalid_or_foreign_number_is_asked_again(access: TicketsAccess, text: str) -> None:
    slots, said = await validate(access, tracker(text, requested="callback_phone"))
    assert slots == {"callback_phone": None} and said == ["utter_callback_phone_invalid"]


async def test_a_no_is_left_to_the_rules_which_cancel(access: TicketsAccess) -> None:
    slots, said = await validate(access, tracker("non", "deny", requested="callback_phone"))
    assert slots == {} and said == []


async def test_the_question_is_taken_in_the_citizens_words(access: TicketsAccess) -> None:
    text = "ou en est mon permis de construire ?"
    slots, _ = await validate(access, tracker(text, "ask_procedure", requested="callback_question"))
    assert slots["callback_question"] == text


async def test_the_call_back_ticket_records_the_number_and_the_question_and_says_when(
    access: TicketsAccess, handoffs: HandoffAccess, store: TicketStore
) -> None:
    await validate(access, tracker("06 12 34 56 78", requested="callback_phone"))
    done = tracker(
        "", callback_phone="06 •• •• •• 78", callback_question="ma facture de cantine", handoff_mode="callback"
    )
    action = ActionCallbackCreate(access, handoffs, clock=lambda: TUESDAY_EVENING)

    events, messages = await run(action, done)

    (ticket,) = store.tickets_of(CHANNEL, SENDER)
    assert (ticket.service_code, ticket.contact, ticket.description) == (
        "autre", "+33612345678", "Demande de rappel : ma facture de cantine",
    )  # fmt: skip
    assert ticket.expected_datetime == datetime(2026, 11, 25, 12, 0, tzinfo=PARIS)
    (message,) = messages
    assert (message["response"], message["ticket_ref"], message["callback_phone"], message["callback_when"]) == (
        "utter_callback_created", ticket.ref, "06 •• •• •• 78", "demain matin entre 8h30 et 12h",
    )  # fmt: skip
    assert {e["name"]: e["value"] for e in events} == {
        "callback_phone": None, "callback_question": None, "handoff_mode": None,
    }  # fmt: skip
    assert await (await access.services()).contacts.get(callback_channel(CHANNEL), SENDER) is None
    await run(action, done)  # a retried turn
    assert len(store.tickets_of(CHANNEL, SENDER)) == 1


async def test_the_call_back_after_an_unanswered_hand_over_is_linked_to_it(
    access: TicketsAccess, handoffs: HandoffAccess
) -> None:
    queue = await handoffs.store()
    queue.open_request(SENDER, CHANNEL, 1000.0)
    await HandoffSweeper(queue, FakeConversationControl(), timeout_seconds=300, clock=lambda: 1400.0).run_once()
    await validate(access, tracker("0612345678", requested="callback_phone"))

    await run(ActionCallbackCreate(access, handoffs, clock=lambda: TUESDAY_EVENING), tracker("", callback_question="x"))

    closed = queue.latest_closed(SENDER)
    assert closed is not None and closed.callback_ref is not None


async def test_without_the_number_nothing_is_recorded_and_the_citizen_gets_the_town_halls(
    access: TicketsAccess, handoffs: HandoffAccess, store: TicketStore
) -> None:
    _, messages = await run(ActionCallbackCreate(access, handoffs), tracker("", callback_question="x"))
    assert messages[0]["response"] == "utter_callback_failed" and messages[0]["phone"] == "05 36 49 10 00"
    assert store.tickets_of(CHANNEL, SENDER) == []


async def test_declining_forgets_the_number_and_ends_the_form(access: TicketsAccess) -> None:
    await validate(access, tracker("06 12 34 56 78", requested="callback_phone"))

    events, messages = await run(ActionCallbackCancel(access), tracker("non", "deny", requested="callback_question"))

    assert events[0] == {"event": "active_loop", "timestamp": None, "name": None}
    assert [m["response"] for m in messages] == ["utter_callback_cancelled"]
    assert await (await access.services()).contacts.get(callback_channel(CHANNEL), SENDER) is None
