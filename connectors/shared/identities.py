"""Where the SMS channel keeps the number behind each pseudonymous sender id (bot.town.privacy.pseudonyms)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.clock import naive_utc_now
from bot.db import read_transaction, write_transaction
from bot.town.privacy.pseudonyms import SMS_PREFIX, load_identity_secret, normalise_number, sms_sender_id
from connectors.shared.tables import sms_identities

__all__ = [
    "SMS_PREFIX",
    "IdentityStore",
    "MemoryIdentityStore",
    "SqlIdentityStore",
    "load_identity_secret",
    "normalise_number",
    "sms_sender_id",
]


class IdentityStore(Protocol):
    """Maps pseudonymous sender ids to the phone numbers used to reach them."""

    async def remember(self, sender_id: str, number: str) -> None:
        """Record (or refresh) the number behind `sender_id`."""
        ...

    async def number_for(self, sender_id: str) -> str | None:
        """The number behind `sender_id`, or None."""
        ...


class SqlIdentityStore:
    """Identities in the `sms_identities` table."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = naive_utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def _remember_blocking(self, sender_id: str, number: str) -> None:
        with write_transaction(self._engine) as connection:
            table = sms_identities
            updated = connection.execute(
                table.update().where(table.c.sender_id == sender_id).values(address=number, last_seen_at=self._clock())
            ).rowcount
            if not updated:
                connection.execute(
                    table.insert().values(sender_id=sender_id, address=number, last_seen_at=self._clock())
                )

    def _number_for_blocking(self, sender_id: str) -> str | None:
        with read_transaction(self._engine) as connection:
            return connection.execute(
                select(sms_identities.c.address).where(sms_identities.c.sender_id == sender_id)
            ).scalar()

    async def remember(self, sender_id: str, number: str) -> None:
        """Record (or refresh) the number behind `sender_id`."""
        await asyncio.to_thread(self._remember_blocking, sender_id, number)

    async def number_for(self, sender_id: str) -> str | None:
        """The number behind `sender_id`, or None."""
        return await asyncio.to_thread(self._number_for_blocking, sender_id)


class MemoryIdentityStore:
    """In-process identities, for tests."""

    def __init__(self) -> None:
        self.numbers: dict[str, str] = {}

    async def remember(self, sender_id: str, number: str) -> None:
        """Record (or refresh) the number behind `sender_id`."""
        self.numbers[sender_id] = number

    async def number_for(self, sender_id: str) -> str | None:
        """The number behind `sender_id`, or None."""
        return self.numbers.get(sender_id)
