"""« Supprimer mes données »: after the citizen confirmed, erase their conversation and contact data.

The rows go here (bot.town.privacy.erasure); the slot `data_erased` then tells the conversation store to drop the
in-memory conversation instead of writing it back at the end of the turn (bot/runtime/stores/tracker_store.py). An SMS
citizen's phone number is forgotten a minute later, once the confirmation SMS has gone out to it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.engine import Engine

from bot.town.media import media_store
from bot.town.privacy import ERASED_SLOT, ErasureReport, erase_sender, forget_sms_identity

logger = logging.getLogger(__name__)

SMS_PREFIX = "sms:"
IDENTITY_GRACE_SECONDS = 60.0

Erase = Callable[[str], Awaitable[ErasureReport]]
Forget = Callable[[str], Coroutine[Any, Any, None]]


@functools.lru_cache(maxsize=1)
def erasure_engine() -> Engine:
    """The database of the settings (DATABASE_URL or the SQLite file under var/), opened once per process."""
    from bot.db import create_engine_for
    from bot.settings import get_settings

    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    return create_engine_for(settings.effective_database_url)


async def erase_conversation(sender_id: str) -> ErasureReport:
    """Erase a citizen's data off the event loop; an SMS number is kept until the confirmation is sent."""
    spare = frozenset({"sms_identities"}) if sender_id.startswith(SMS_PREFIX) else frozenset()
    return await asyncio.to_thread(erase_sender, erasure_engine(), sender_id, spare=spare, media=media_store())


async def forget_number_later(sender_id: str, delay_seconds: float = IDENTITY_GRACE_SECONDS) -> None:
    """Forget an SMS citizen's number once the confirmation had time to go (retention purges it otherwise)."""
    await asyncio.sleep(delay_seconds)
    try:
        await asyncio.to_thread(forget_sms_identity, erasure_engine(), sender_id)
    except Exception:
        logger.exception("An erased SMS identity could not be forgotten; the retention purge will remove it")


class ActionEraseMyData(Action):
    """Erases the citizen's conversation, channel data and contacts; their tickets stay, anonymised."""

    def __init__(self, erase: Erase | None = None, forget_later: Forget | None = None) -> None:
        self._erase = erase or erase_conversation
        self._forget_later = forget_later or forget_number_later
        self._pending: set[asyncio.Task[None]] = set()

    def name(self) -> str:
        return "action_erase_my_data"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        try:
            report = await self._erase(tracker.sender_id)
        except Exception:
            logger.exception("A citizen's data could not be erased")
            dispatcher.utter_message(response="utter_erase_failed")
            return []
        logger.info("Data erased at the citizen's request: %s", report.summary())
        if tracker.sender_id.startswith(SMS_PREFIX):
            task = asyncio.get_running_loop().create_task(self._forget_later(tracker.sender_id))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        dispatcher.utter_message(response="utter_erase_done")
        return [SlotSet(ERASED_SLOT, True)]
