"""Call-back requests: the form asks the number to call (a French phone number, echoed back masked) and the
question in a sentence; the ticket records both and the citizen is told when, by the town hall's opening hours."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from actions.handoff import HandoffAccess, shared_handoff_access
from actions.report_form import Turn, identity
from actions.tickets_access import TicketsAccess, TicketServices, tickets_access
from bot.settings import town_now
from bot.town.handoff import TOWN_HALL, callback_draft, callback_phrase, callback_window
from bot.town.tickets.intake import is_skip, parse_french_phone

logger = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 500
DECLINES = frozenset({"deny", "goodbye"})


def callback_channel(channel: str) -> str:
    """Where the number waits server-side (the pending contacts of reports, under its own key: a report and a
    call-back in the same conversation never share a number)."""
    return f"{channel}:callback"


def _declines(turn: Turn) -> bool:
    """A « non » / « au revoir »: left to the rules, which cancel the call-back."""
    return turn.intent in DECLINES and (is_skip(turn.text) or len(turn.text.split()) <= 3)


class ValidateCallbackForm(FormValidationAction):
    """Fills callback_phone (masked display; the number waits server-side) and callback_question."""

    def __init__(self, access: TicketsAccess | None = None) -> None:
        self._access = access

    def name(self) -> str:
        return "validate_callback_form"

    async def extract_callback_phone(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        turn = Turn.of(tracker)
        if turn.requested != "callback_phone" or _declines(turn):
            return {}
        phone = parse_french_phone(turn.text)
        if phone is None:
            dispatcher.utter_message(response="utter_callback_phone_invalid")
            return {"callback_phone": None}
        channel, sender_id = identity(tracker)
        contacts = (await (self._access or tickets_access()).services()).contacts
        # Kept server-side: the conversation log masks the number at the end of this turn.
        await contacts.put(callback_channel(channel), sender_id, phone.value)
        return {"callback_phone": phone.masked}

    async def extract_callback_question(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        turn = Turn.of(tracker)
        if turn.requested != "callback_question" or _declines(turn):
            return {}
        if len(turn.text) < 3:
            return {"callback_question": None}  # asked again
        return {"callback_question": turn.text[:MAX_QUESTION_CHARS]}

    # Extracted above; nothing more to check.
    def validate_callback_phone(self, value: Any, *_: Any) -> dict[str, Any]:
        return {"callback_phone": value}

    def validate_callback_question(self, value: Any, *_: Any) -> dict[str, Any]:
        return {"callback_question": value}


def _reset() -> list[EventType]:
    return [SlotSet("callback_phone", None), SlotSet("callback_question", None), SlotSet("handoff_mode", None)]


def _town_hall_phone(services: TicketServices) -> str:
    return services.catalog.service(TOWN_HALL).phone or ""


class ActionCallbackCreate(Action):
    """Records the call-back ticket (number as its contact, question as its description) and says when staff call."""

    def __init__(
        self,
        access: TicketsAccess | None = None,
        handoffs: HandoffAccess | None = None,
        clock: Callable[[], datetime] = town_now,
        stamp: Callable[[], float] = time.time,
    ) -> None:
        self._access = access
        self._handoffs = handoffs
        self._clock = clock  # the town's time: the opening range the call falls in (CLOCK_OVERRIDE can fix it)
        self._stamp = stamp

    def name(self) -> str:
        return "action_callback_create"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        services = await (self._access or tickets_access()).services()
        channel, sender_id = identity(tracker)
        now = self._clock()
        window = callback_window(services.catalog.service(TOWN_HALL), now)
        key = f"callback:{channel}:{sender_id}:{tracker.latest_message.get('message_id') or int(self._stamp())}"
        try:
            phone = await services.contacts.get(callback_channel(channel), sender_id)
            if phone is None:
                raise LookupError("the number to call is no longer waiting")
            draft = callback_draft(
                channel,
                sender_id,
                key,
                phone=phone,
                question=tracker.get_slot("callback_question") or "",
                expected=window.end if window else None,
            )
            ticket = await services.tickets.create_ticket(draft)
            await services.contacts.discard(callback_channel(channel), sender_id)
        except Exception:  # nothing recorded: say so, with the number to call instead
            logger.exception("call-back request of %s could not be recorded", sender_id)
            dispatcher.utter_message(response="utter_callback_failed", phone=_town_hall_phone(services))
            return _reset()
        await self._link_to_handoff(sender_id, ticket.ref)
        dispatcher.utter_message(
            response="utter_callback_created",
            ticket_ref=ticket.ref,
            callback_phone=tracker.get_slot("callback_phone") or "",
            callback_when=callback_phrase(window, now),
        )
        return _reset()

    async def _link_to_handoff(self, sender_id: str, ref: str) -> None:
        """The unanswered hand-over this call-back follows, if any, points to its ticket in the console."""
        try:
            store = await (self._handoffs or shared_handoff_access()).store()
            request = await asyncio.to_thread(store.latest_closed, sender_id)
            if request is not None and request.outcome == "no_agent" and not request.callback_ref:
                await asyncio.to_thread(store.set_callback, request.id, ref)
        except Exception:  # a missing link only costs staff a click; the ticket is recorded
            logger.warning("call-back %s not linked to its hand-over request", ref, exc_info=True)


class ActionCallbackCancel(Action):
    """The citizen declines the call-back: forget the number, give the town hall's."""

    def __init__(self, access: TicketsAccess | None = None) -> None:
        self._access = access

    def name(self) -> str:
        return "action_callback_cancel"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        services = await (self._access or tickets_access()).services()
        channel, sender_id = identity(tracker)
        await services.contacts.discard(callback_channel(channel), sender_id)
        dispatcher.utter_message(response="utter_callback_cancelled", phone=_town_hall_phone(services))
        return [ActiveLoop(None), *_reset(), SlotSet("requested_slot", None)]
