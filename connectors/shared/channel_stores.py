"""The persisted state every channel needs, opened once per process and database."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine, make_url

from connectors.shared.continuations import ContinuationStore, MemoryContinuationStore, SqlContinuationStore
from connectors.shared.deliveries import DeliveryLog, MemoryDeliveryLog, SqlDeliveryLog
from connectors.shared.identities import IdentityStore, MemoryIdentityStore, SqlIdentityStore
from connectors.shared.offers import MemoryOfferStore, OfferStore, SqlOfferStore
from connectors.shared.optouts import MemoryOptOutStore, OptOutStore, SqlOptOutStore
from connectors.shared.tables import create_channel_engine, create_channel_tables


@dataclass
class ChannelStores:
    """Deliveries seen, buttons offered, SMS identities, opt-outs and the rest of long SMS answers."""

    deliveries: DeliveryLog
    offers: OfferStore
    identities: IdentityStore
    optouts: OptOutStore
    engine: Engine | None = None
    continuations: ContinuationStore = field(default_factory=MemoryContinuationStore)


@functools.lru_cache(maxsize=4)
def open_channel_stores(database_url: str) -> ChannelStores:
    """SQL stores on `database_url`, tables created if missing (blocking: call at start-up)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_channel_engine(database_url)
    create_channel_tables(engine)
    return ChannelStores(
        deliveries=SqlDeliveryLog(engine),
        offers=SqlOfferStore(engine),
        identities=SqlIdentityStore(engine),
        optouts=SqlOptOutStore(engine),
        engine=engine,
        continuations=SqlContinuationStore(engine),
    )


def memory_channel_stores() -> ChannelStores:
    """In-process stores, for tests."""
    return ChannelStores(MemoryDeliveryLog(), MemoryOfferStore(), MemoryIdentityStore(), MemoryOptOutStore())


def dispose_after_fork(stores: ChannelStores) -> None:
    """Drop pooled connections inherited from the parent process (Sanic workers are forked)."""
    if stores.engine is not None and stores.engine.url.database not in (None, "", ":memory:"):
        stores.engine.dispose(close=False)  # new connections in this process; the parent's stay untouched
