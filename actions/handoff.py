"""Human handoff: a person during the town hall's opening hours (the conversation pauses), a call-back otherwise."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.report_form import identity
from actions.tickets_access import TicketsAccess, tickets_access
from bot.settings import town_now
from bot.town.catalog import PARIS
from bot.town.catalog.formatting import format_date, format_moment
from bot.town.catalog.hours import next_opening
from bot.town.handoff import (
    TOWN_HALL,
    HandoffStore,
    callback_draft,
    callback_due,
    create_handoff_schema,
    staff_available,
)

logger = logging.getLogger(__name__)


class HandoffAccess:
    """The handoff queue on the ticket store's database, its table created on first use."""

    def __init__(self, tickets: TicketsAccess | None = None, store: HandoffStore | None = None) -> None:
        self.tickets = tickets
        self._store = store
        self._lock = asyncio.Lock()

    async def store(self) -> HandoffStore:
        """The queue, opened the first time it is asked for."""
        if self._store is None:
            async with self._lock:
                if self._store is None:
                    engine = (await (self.tickets or tickets_access()).services()).tickets.sync.engine
                    await asyncio.to_thread(create_handoff_schema, engine)
                    self._store = HandoffStore(engine)
        return self._store


_shared_access = HandoffAccess()  # opens nothing until an action first runs


class ActionRequestHuman(Action):
    """Queues the conversation for staff and pauses it when the town hall is open; a call-back ticket otherwise."""

    def __init__(
        self,
        access: HandoffAccess | None = None,
        clock: Callable[[], datetime] = town_now,
        stamp: Callable[[], float] = time.time,
    ) -> None:
        self._access = access
        self._clock = clock  # the town's time: opening hours and the call-back day (CLOCK_OVERRIDE can fix it)
        self._stamp = stamp  # when the request was made, for the queue and its timeout

    def name(self) -> str:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        access = self._access or _shared_access
        services = await (access.tickets or tickets_access()).services()
        channel, sender_id = identity(tracker)
        now = self._clock()
        if channel == VOICE_CHANNEL:
            return transfer_call(dispatcher, tracker, services.catalog, now)
        try:
            if staff_available(services.catalog, now):
                store = await access.store()
                await asyncio.to_thread(store.open_request, sender_id, channel, self._stamp())
                dispatcher.utter_message(response="utter_handoff_waiting")
                return [ConversationPaused()]
            due = callback_due(now)
            key = f"callback:{channel}:{sender_id}:{tracker.latest_message.get('message_id') or int(self._stamp())}"
            ticket = await services.tickets.create_ticket(callback_draft(channel, sender_id, key, due))
        except Exception:  # the database is down: say so honestly, with the number to call
            logger.exception("handoff request of %s could not be recorded", sender_id)
            phone = services.catalog.service(TOWN_HALL).phone or ""
            dispatcher.utter_message(response="utter_handoff_unavailable", phone=phone)
            return []
        dispatcher.utter_message(
            response="utter_handoff_callback", ticket_ref=ticket.ref, callback_date=format_date(due)
        )
        return []


VOICE_CHANNEL = "voice"


def transfer_call(dispatcher: CollectingDispatcher, tracker: Tracker, catalog: Any, now: datetime) -> list[EventType]:
    """On the phone: put the caller through to the switchboard in the town hall's hours, else say when to call."""
    if staff_available(catalog, now):
        dispatcher.utter_message(response="utter_voice_transfer")
        dispatcher.utter_message(json_message={"voice": "transfer", "topic": previous_question(tracker)})
        return []
    reopening = next_opening(catalog.service(TOWN_HALL), now)
    if reopening is None:
        dispatcher.utter_message(response="utter_voice_switchboard_closed_plain")
    else:
        dispatcher.utter_message(response="utter_voice_switchboard_closed", next_opening=format_moment(reopening, now))
    dispatcher.utter_message(json_message={"voice": "hangup"})
    return []


def previous_question(tracker: Tracker) -> str:
    """What the caller said before asking for a person (the topic the switchboard agent hears), or ""."""
    said = [e.get("text") or "" for e in tracker.events if e.get("event") == "user"]
    earlier = [text for text in said[:-1] if text and not text.startswith("/")]
    return earlier[-1] if earlier else ""


class ActionHandoffUpdate(Action):
    """Tells the citizen how the handoff ended: the agent handed back, or nobody came and a call-back is booked."""

    def __init__(self, access: HandoffAccess | None = None) -> None:
        self._access = access

    def name(self) -> str:
        return "action_handoff_update"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        access = self._access or _shared_access
        store = await access.store()
        request = await asyncio.to_thread(store.latest_closed, tracker.sender_id)
        if request is None or request.outcome != "no_agent" or not request.callback_ref:
            dispatcher.utter_message(response="utter_handoff_ended")
            return []
        tickets = (await (access.tickets or tickets_access()).services()).tickets
        ticket = await tickets.get_ticket(request.callback_ref)
        due = ticket.expected_datetime if ticket and ticket.expected_datetime else None
        dispatcher.utter_message(
            response="utter_handoff_no_agent",
            ticket_ref=request.callback_ref,
            callback_date=format_date(due.astimezone(PARIS).date()) if due else "",
        )
        return []
