"""Contacts given during a report, kept server-side until the ticket is created (the conversation log masks them).

The tracker store masks phone numbers and e-mails in every stored event, so a contact typed by the citizen only
survives the turn it was typed in; it waits here, keyed by channel identity, and moves into the ticket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Column, MetaData, String, Table, delete, select
from sqlalchemy.engine import Engine

from bot.clock import utc_now
from bot.db import create_tables, read_transaction, write_transaction
from bot.town.tickets.schema import UtcDateTime

Clock = Callable[[], datetime]

metadata = MetaData()

pending_contacts = Table(
    "report_pending_contacts",
    metadata,
    Column("channel", String(40), primary_key=True),
    Column("sender_id", String(200), primary_key=True),
    Column("contact", String(300), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

MAX_AGE = timedelta(days=1)  # a report left unfinished longer than this forgets its contact


def create_drafts_schema(engine: Engine) -> None:
    """Create the pending-contact table if it does not exist (safe at every start)."""
    create_tables(metadata, engine)


class PendingContacts:
    """The contact a citizen gave for the report in progress, one per channel identity."""

    def __init__(self, engine: Engine, *, clock: Clock = utc_now, max_age: timedelta = MAX_AGE) -> None:
        self.engine = engine
        self.clock = clock
        self.max_age = max_age

    def put(self, channel: str, sender_id: str, contact: str) -> None:
        """Remember `contact` for this identity's report, replacing an earlier one."""
        with write_transaction(self.engine) as conn:
            conn.execute(delete(pending_contacts).where(*self._key(channel, sender_id)))
            conn.execute(
                pending_contacts.insert().values(
                    channel=channel, sender_id=sender_id, contact=contact, updated_at=self.clock()
                )
            )

    def get(self, channel: str, sender_id: str) -> str | None:
        """The contact waiting for this identity's report, unless it is too old."""
        with read_transaction(self.engine) as conn:
            row = conn.execute(select(pending_contacts).where(*self._key(channel, sender_id))).first()
        if row is None or self.clock() - row.updated_at > self.max_age:  # type: ignore[attr-defined]
            return None
        return str(row.contact)  # type: ignore[attr-defined]

    def discard(self, channel: str, sender_id: str) -> None:
        """Forget this identity's pending contact (report created, cancelled or contact corrected).

        Every report starts with a discard, and most have nothing to forget: a read finds out first, so that only a
        real deletion takes SQLite's single write lock (taking it every time made report starts wait behind the
        conversation store's writes under load).
        """
        key = self._key(channel, sender_id)
        with read_transaction(self.engine) as conn:
            if conn.execute(select(pending_contacts.c.sender_id).where(*key).limit(1)).first() is None:
                return
        with write_transaction(self.engine) as conn:
            conn.execute(delete(pending_contacts).where(*key))

    def purge(self) -> int:
        """Delete contacts older than `max_age`; how many were deleted."""
        with write_transaction(self.engine) as conn:
            result = conn.execute(
                delete(pending_contacts).where(pending_contacts.c.updated_at < self.clock() - self.max_age)
            )
        return int(result.rowcount or 0)

    @staticmethod
    def _key(channel: str, sender_id: str) -> tuple:  # type: ignore[type-arg]
        return (pending_contacts.c.channel == channel, pending_contacts.c.sender_id == sender_id)


class AsyncPendingContacts:
    """Awaitable twin of `PendingContacts` (each call in a worker thread)."""

    def __init__(self, contacts: PendingContacts) -> None:
        self.sync = contacts

    async def put(self, channel: str, sender_id: str, contact: str) -> None:
        """See `PendingContacts.put`."""
        await asyncio.to_thread(self.sync.put, channel, sender_id, contact)

    async def get(self, channel: str, sender_id: str) -> str | None:
        """See `PendingContacts.get`."""
        return await asyncio.to_thread(self.sync.get, channel, sender_id)

    async def discard(self, channel: str, sender_id: str) -> None:
        """See `PendingContacts.discard`."""
        await asyncio.to_thread(self.sync.discard, channel, sender_id)
