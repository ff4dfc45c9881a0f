"""The ticket store, pending contacts and catalog the report actions use: opened once per process, off the loop."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass

from bot.town.catalog import Catalog
from bot.town.tickets import AsyncTicketStore, TicketStore
from bot.town.tickets.drafts import AsyncPendingContacts, PendingContacts


@dataclass(frozen=True)
class TicketServices:
    """What the report and follow-up actions need."""

    tickets: AsyncTicketStore
    contacts: AsyncPendingContacts
    catalog: Catalog


class TicketsAccess:
    """Opens the services on first use (schema created once), in a worker thread, guarded by a lock."""

    def __init__(self, open_services: Callable[[], TicketServices]) -> None:
        self._open = open_services
        self._services: TicketServices | None = None
        self._lock = asyncio.Lock()

    async def services(self) -> TicketServices:
        """The services, opened the first time they are asked for."""
        if self._services is None:
            async with self._lock:
                if self._services is None:
                    self._services = await asyncio.to_thread(self._open)
        return self._services


def open_services(store: TicketStore, catalog_loader: Callable[[], Catalog]) -> TicketServices:
    """Create the tables if needed and wrap the store for async callers (blocking: run in a thread)."""
    from bot.town.tickets import create_schema
    from bot.town.tickets.drafts import create_drafts_schema

    create_schema(store.engine)
    create_drafts_schema(store.engine)
    return TicketServices(
        tickets=AsyncTicketStore(store),
        contacts=AsyncPendingContacts(PendingContacts(store.engine)),
        catalog=catalog_loader(),
    )


@functools.lru_cache(maxsize=1)
def tickets_access() -> TicketsAccess:
    """The process-wide access, from settings (DATABASE_URL or the SQLite file under var/, the town's catalog)."""
    from bot.town.catalog import load_catalog
    from bot.town.tickets import store_from_settings

    return TicketsAccess(lambda: open_services(store_from_settings(), load_catalog))
