"""Satisfaction after closing: the citizen's 👍/👎 (affirm/deny) about the ticket they were asked about."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.report_form import identity
from actions.tickets_access import TicketsAccess, tickets_access
from bot.clock import utc_now
from bot.town.tickets.satisfaction import SatisfactionStore

logger = logging.getLogger(__name__)


class ActionSatisfactionAnswer(Action):
    """Stores the answer on the ticket in the ticket_ref slot (only from the citizen asked, only the first answer)."""

    def __init__(self, access: TicketsAccess | None = None, clock: Callable[[], datetime] = utc_now) -> None:
        self._access = access
        self._clock = clock

    def name(self) -> str:
        return "action_satisfaction_answer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        satisfied = (tracker.latest_message.get("intent") or {}).get("name") == "affirm"
        ref = tracker.get_slot("ticket_ref") or ""
        channel, sender_id = identity(tracker)
        try:
            engine = (await (self._access or tickets_access()).services()).tickets.sync.engine
            recorded = await asyncio.to_thread(
                SatisfactionStore(engine).record, ref, channel, sender_id, satisfied, self._clock()
            )
            if not recorded:
                logger.info("satisfaction about %s not recorded (not asked, or answered before)", ref)
        except Exception:  # the citizen is thanked either way; the answer is only a measure
            logger.exception("satisfaction about %s could not be stored", ref)
        dispatcher.utter_message(response="utter_satisfaction_thanks" if satisfied else "utter_satisfaction_sorry")
        return []
