"""SMS opt-outs (STOP / ARRET), honoured by every outbound SMS, notifications included."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.clock import naive_utc_now
from bot.db import read_transaction, write_transaction
from connectors.shared.tables import sms_optouts

CHANNEL = "sms"


class OptOutStore(Protocol):
    """Who asked not to receive SMS any more."""

    async def set_opted_out(self, sender_id: str, opted_out: bool) -> None:
        """Record STOP (True) or START (False) for `sender_id`."""
        ...

    async def is_opted_out(self, sender_id: str) -> bool:
        """Whether `sender_id` must not be sent any SMS."""
        ...


class SqlOptOutStore:
    """Opt-outs in the `sms_optouts` table (shared with the ticket notifier)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = naive_utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def _set_blocking(self, sender_id: str, opted_out: bool) -> None:
        table = sms_optouts
        with write_transaction(self._engine) as connection:
            key = (table.c.channel == CHANNEL) & (table.c.sender_id == sender_id)
            values = {"opted_out": opted_out, "changed_at": self._clock()}
            if not connection.execute(table.update().where(key).values(**values)).rowcount:
                connection.execute(table.insert().values(channel=CHANNEL, sender_id=sender_id, **values))

    def _get_blocking(self, sender_id: str) -> bool:
        table = sms_optouts
        with read_transaction(self._engine) as connection:
            value = connection.execute(
                select(table.c.opted_out).where((table.c.channel == CHANNEL) & (table.c.sender_id == sender_id))
            ).scalar()
        return bool(value)

    async def set_opted_out(self, sender_id: str, opted_out: bool) -> None:
        """Record STOP (True) or START (False) for `sender_id`."""
        await asyncio.to_thread(self._set_blocking, sender_id, opted_out)

    async def is_opted_out(self, sender_id: str) -> bool:
        """Whether `sender_id` must not be sent any SMS."""
        return await asyncio.to_thread(self._get_blocking, sender_id)


class MemoryOptOutStore:
    """In-process opt-outs, for tests."""

    def __init__(self) -> None:
        self.opted_out: set[str] = set()

    async def set_opted_out(self, sender_id: str, opted_out: bool) -> None:
        """Record STOP (True) or START (False) for `sender_id`."""
        (self.opted_out.add if opted_out else self.opted_out.discard)(sender_id)

    async def is_opted_out(self, sender_id: str) -> bool:
        """Whether `sender_id` must not be sent any SMS."""
        return sender_id in self.opted_out
