"""Human handoff: live when an agent is present in the console (the conversation pauses), a call-back otherwise."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.report_form import identity
from actions.tickets_access import TicketsAccess, tickets_access
from bot.settings import get_settings, town_now
from bot.town.catalog.formatting import format_moment
from bot.town.catalog.hours import next_opening
from bot.town.handoff import (
    TOWN_HALL,
    AgentPresence,
    HandoffStore,
    create_handoff_schema,
    estimate_wait_minutes,
    switchboard_open,
)

logger = logging.getLogger(__name__)


class HandoffAccess:
    """The handoff queue and the agents' presence on the ticket store's database, the tables created on first use."""

    def __init__(
        self,
        tickets: TicketsAccess | None = None,
        store: HandoffStore | None = None,
        presence: AgentPresence | None = None,
    ) -> None:
        self.tickets = tickets
        self._store = store
        self._presence = presence
        self._lock = asyncio.Lock()

    async def store(self) -> HandoffStore:
        """The queue, opened the first time it is asked for."""
        await self._open()
        assert self._store is not None
        return self._store

    async def presence(self) -> AgentPresence:
        """Who is « disponible » in the console (HANDOFF_PRESENCE_SECONDS decides when a silent page is absent)."""
        await self._open()
        assert self._presence is not None
        return self._presence

    async def _open(self) -> None:
        if self._store is None or self._presence is None:
            async with self._lock:
                if self._store is None or self._presence is None:
                    engine = (await (self.tickets or tickets_access()).services()).tickets.sync.engine
                    await asyncio.to_thread(create_handoff_schema, engine)
                    self._store = self._store or HandoffStore(engine)
                    self._presence = self._presence or AgentPresence(
                        engine, presence_seconds=get_settings().handoff_presence_seconds
                    )


_shared_access = HandoffAccess()  # opens nothing until an action first runs


def shared_handoff_access() -> HandoffAccess:
    """The process-wide handoff access (the call-back actions link their ticket to the request)."""
    return _shared_access


class ActionRequestHuman(Action):
    """Queues the conversation for an agent present in the console and pauses it (handoff_mode live), telling the
    citizen their place and a realistic wait; with nobody present, sets handoff_mode callback (callback_form)."""

    def __init__(
        self,
        access: HandoffAccess | None = None,
        stamp: Callable[[], float] = time.time,
        clock: Callable[[], datetime] = town_now,
    ) -> None:
        self._access = access
        self._stamp = stamp  # when the request was made, for the queue, presence and the timeout (real time)
        self._clock = clock  # the town's local time, for the switchboard's hours on the phone

    def name(self) -> str:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        access = self._access or _shared_access
        channel, sender_id = identity(tracker)
        now = self._stamp()
        if channel == VOICE_CHANNEL:
            services = await (access.tickets or tickets_access()).services()
            return transfer_call(dispatcher, tracker, services.catalog, self._clock())
        try:
            presence, store = await access.presence(), await access.store()
            agents = await asyncio.to_thread(presence.available_agents, now)
            if agents:
                request = await asyncio.to_thread(store.open_request, sender_id, channel, now)
                place = await asyncio.to_thread(store.queue_place, request.id)
                history = await asyncio.to_thread(store.recent_take_seconds, now)
                dispatcher.utter_message(
                    response="utter_handoff_waiting",
                    queue_place=max(1, place),
                    wait_minutes=estimate_wait_minutes(place, history, len(agents)),
                )
                return [SlotSet("handoff_mode", "live"), ConversationPaused()]
        except Exception:  # the queue cannot be read: a call-back is still possible, and honest
            logger.exception("handoff request of %s could not be queued", sender_id)
        dispatcher.utter_message(response="utter_handoff_callback_offer")
        return [SlotSet("handoff_mode", "callback")]


VOICE_CHANNEL = "voice"


def transfer_call(dispatcher: CollectingDispatcher, tracker: Tracker, catalog: Any, now: datetime) -> list[EventType]:
    """On the phone: put the caller through to the switchboard in the town hall's hours, else say when to call."""
    if switchboard_open(catalog, now):
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
    """Tells the citizen how the handoff ended: the agent handed back, or nobody came and a call-back is offered."""

    def __init__(self, access: HandoffAccess | None = None) -> None:
        self._access = access

    def name(self) -> str:
        return "action_handoff_update"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        store = await (self._access or _shared_access).store()
        request = await asyncio.to_thread(store.latest_closed, tracker.sender_id)
        if request is not None and request.outcome == "no_agent" and not request.callback_ref:
            dispatcher.utter_message(response="utter_handoff_no_agent")
            return [SlotSet("handoff_mode", "callback")]
        dispatcher.utter_message(response="utter_handoff_ended")
        return [SlotSet("handoff_mode", None)]
