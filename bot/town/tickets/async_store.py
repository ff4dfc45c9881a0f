"""The ticket store for async code (actions, console, connectors): each call runs in a worker thread."""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.town.tickets.model import DuplicateCandidate, HistoryEntry, RequestQuery, Ticket, TicketDraft, TicketView
from bot.town.tickets.outbox import OutboxStore
from bot.town.tickets.store import DUPLICATE_RADIUS_M, TicketStore


class AsyncTicketStore:
    """Awaitable twin of `TicketStore` (plus SMS opt-outs) that never blocks the event loop."""

    def __init__(self, store: TicketStore) -> None:
        self.sync = store
        self.outbox = OutboxStore(store.engine)

    async def create_ticket(self, draft: TicketDraft) -> Ticket:
        """See `TicketStore.create_ticket`."""
        return await asyncio.to_thread(self.sync.create_ticket, draft)

    async def get_ticket(self, ref: str) -> Ticket | None:
        """See `TicketStore.get_ticket`."""
        return await asyncio.to_thread(self.sync.get_ticket, ref)

    async def history(self, ref: str) -> list[HistoryEntry]:
        """See `TicketStore.history`."""
        return await asyncio.to_thread(self.sync.history, ref)

    async def list_requests(self, query: RequestQuery) -> list[Ticket]:
        """See `TicketStore.list_requests`."""
        return await asyncio.to_thread(self.sync.list_requests, query)

    async def tickets_of(self, channel: str, sender_id: str, *, limit: int = 10) -> list[Ticket]:
        """See `TicketStore.tickets_of`."""
        return await asyncio.to_thread(self.sync.tickets_of, channel, sender_id, limit=limit)

    async def status_for(self, ref: str, channel: str, sender_id: str) -> TicketView | None:
        """See `TicketStore.status_for`."""
        return await asyncio.to_thread(self.sync.status_for, ref, channel, sender_id)

    async def find_duplicates(
        self,
        service_code: str,
        *,
        lat: float | None = None,
        long: float | None = None,
        street: str | None = None,
        radius_m: float = DUPLICATE_RADIUS_M,
        limit: int = 5,
    ) -> list[DuplicateCandidate]:
        """See `TicketStore.find_duplicates`."""
        return await asyncio.to_thread(
            self.sync.find_duplicates, service_code, lat=lat, long=long, street=street, radius_m=radius_m, limit=limit
        )

    async def follow(self, ref: str, channel: str, sender_id: str) -> bool:
        """See `TicketStore.follow`."""
        return await asyncio.to_thread(self.sync.follow, ref, channel, sender_id)

    async def set_status(
        self,
        ref: str,
        state: str,
        note: str | None = None,
        actor: str = "staff",
        reason: str | None = None,
        *,
        expected_datetime: datetime | None = None,
    ) -> Ticket:
        """See `TicketStore.set_status`."""
        return await asyncio.to_thread(
            self.sync.set_status, ref, state, note, actor, reason, expected_datetime=expected_datetime
        )

    async def set_optout(self, channel: str, sender_id: str, opted_out: bool) -> None:
        """See `OutboxStore.set_optout`."""
        await asyncio.to_thread(self.outbox.set_optout, channel, sender_id, opted_out)
