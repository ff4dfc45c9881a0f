"""Each webhook delivery (Telegram update_id, Twilio MessageSid) is processed once, across restarts and workers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete
from sqlalchemy.engine import Engine

from bot.clock import naive_utc_now
from bot.db import insert_ignoring_conflict, write_transaction
from connectors.shared.tables import channel_deliveries

logger = logging.getLogger(__name__)


class DeliveryLog(Protocol):
    """Remembers which deliveries were already accepted."""

    async def claim(self, channel: str, delivery_id: str) -> bool:
        """True the first time a delivery is seen, False for every repeat."""
        ...


async def is_first_delivery(log: DeliveryLog, channel: str, delivery_id: str) -> bool:
    """Claim a delivery; if the log is unreachable, handle the message anyway (a rare duplicate beats a loss)."""
    try:
        return await log.claim(channel, delivery_id)
    except Exception:
        logger.exception(
            "Delivery log unavailable; handling %s delivery %s without deduplication", channel, delivery_id
        )
        return True


class SqlDeliveryLog:
    """Delivery log in the `channel_deliveries` table."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = naive_utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def claim_blocking(self, channel: str, delivery_id: str) -> bool:
        """Insert the delivery; False when it was already there."""
        with write_transaction(self._engine) as connection:
            return insert_ignoring_conflict(
                connection,
                channel_deliveries,
                {"channel": channel, "delivery_id": delivery_id[:100], "received_at": self._clock()},
                ["channel", "delivery_id"],
            )

    async def claim(self, channel: str, delivery_id: str) -> bool:
        """True the first time a delivery is seen, False for every repeat."""
        return await asyncio.to_thread(self.claim_blocking, channel, delivery_id)

    def forget_older_than(self, age: timedelta) -> int:
        """Drop deliveries older than `age` (providers stop redelivering after a day); returns how many."""
        with write_transaction(self._engine) as connection:
            result = connection.execute(
                delete(channel_deliveries).where(channel_deliveries.c.received_at < self._clock() - age)
            )
            return result.rowcount or 0


class MemoryDeliveryLog:
    """In-process delivery log, for tests."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    async def claim(self, channel: str, delivery_id: str) -> bool:
        """True the first time a delivery is seen, False for every repeat."""
        key = (channel, delivery_id)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True
