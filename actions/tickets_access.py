"""The ticket store, pending contacts and live catalog the report actions use: opened once per process, off the loop."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.town.catalog import Catalog
from bot.town.catalog.geocoding import Geocoder, LiveGeocoder
from bot.town.catalog.live import LiveCatalog
from bot.town.tickets import AsyncTicketStore, TicketStore
from bot.town.tickets.drafts import AsyncPendingContacts, PendingContacts


@dataclass(frozen=True)
class TicketServices:
    """What the report and follow-up actions need."""

    tickets: AsyncTicketStore
    contacts: AsyncPendingContacts
    catalog: Catalog
    geocoder: Geocoder = field(default_factory=lambda: Geocoder(()))  # without addresses, places stay unlocated


class TicketsAccess:
    """Opens the services on first use (schema created once), in a worker thread, guarded by a lock."""

    def __init__(
        self,
        open_services: Callable[[], TicketServices],
        live: Callable[[], LiveCatalog] | None = None,
        addresses: Callable[[], LiveGeocoder] | None = None,
    ) -> None:
        self._open = open_services
        self._live = live  # when given, the services' catalog follows the database's (see bot/town/catalog/live.py)
        self._addresses = addresses  # when given, typed places are located from the database's addresses
        self._live_geocoder: LiveGeocoder | None = None
        self._services: TicketServices | None = None
        self._lock = asyncio.Lock()

    async def services(self) -> TicketServices:
        """The services, opened the first time they are asked for, with the live catalog as of its last check."""
        if self._services is None:
            async with self._lock:
                if self._services is None:
                    self._services = await asyncio.to_thread(self._open)
        if self._live is not None:
            live = self._live()
            catalog = live.current()
            if catalog is None:
                catalog = await asyncio.to_thread(live.refresh)
            if catalog is not self._services.catalog:
                self._services = dataclasses.replace(self._services, catalog=catalog)
        if self._addresses is not None:
            if self._live_geocoder is None:
                self._live_geocoder = await asyncio.to_thread(self._addresses)  # opens the database once
            geocoder = self._live_geocoder.current()
            if geocoder is None:
                geocoder = await asyncio.to_thread(self._live_geocoder.refresh)
            if geocoder is not self._services.geocoder:
                self._services = dataclasses.replace(self._services, geocoder=geocoder)
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
    from actions.catalog_access import shared_live_catalog
    from bot.town.tickets import store_from_settings

    return TicketsAccess(
        lambda: open_services(store_from_settings(), lambda: shared_live_catalog().get()),
        live=shared_live_catalog,
        addresses=shared_live_geocoder,
    )


@functools.lru_cache(maxsize=1)
def shared_live_geocoder() -> LiveGeocoder:
    """The process's one live geocoder, from the settings (opens the database; blocking: call off the event loop)."""
    from bot.town.catalog.geocoding import live_geocoder_from_settings

    return live_geocoder_from_settings()
