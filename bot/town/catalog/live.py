"""The catalog a long-running process answers from, kept current with the database without a reload per message.

Each process keeps the catalog in memory with the version it was read at. When it is used, and at most once every
`check_seconds`, the process reads the version (one single-row query); only when the version moved does it read and
validate the documents again. A change made anywhere (command line, console, another server) thus reaches every
process within `check_seconds` plus its next message, without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from bot.town.catalog.catalog import Catalog, catalog_from_documents
from bot.town.catalog.fields import CatalogError
from bot.town.catalog.store import CatalogStore, store_from_settings

if TYPE_CHECKING:
    from bot.settings import Settings

logger = logging.getLogger(__name__)


class LiveCatalog:
    """The database's catalog for one process: `get()` is free between checks, cheap at a check, and reloads only
    after a change. When the database cannot be read, the process goes on answering from the catalog it has."""

    def __init__(
        self,
        store: CatalogStore,
        seed_dir: Path,
        check_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store, self._seed_dir = store, seed_dir
        self._check_seconds, self._clock = check_seconds, clock
        self._catalog: Catalog | None = None
        self._version = -1
        self._checked = float("-inf")
        self._lock = threading.Lock()

    @property
    def version(self) -> int:
        """The version of the catalog held (-1 before the first read)."""
        return self._version

    def current(self) -> Catalog | None:
        """The catalog held, when it was checked less than `check_seconds` ago; None when a check is due."""
        if self._catalog is not None and self._clock() - self._checked < self._check_seconds:
            return self._catalog
        return None

    def get(self) -> Catalog:
        """The catalog, checked against the database's version when a check is due (blocking: call off the loop)."""
        return self.current() or self.refresh()

    def refresh(self) -> Catalog:
        """Check the version now (unless another thread just did) and reload when it changed."""
        with self._lock:
            fresh = self.current()
            if fresh is not None:
                return fresh
            try:
                self._reload_if_changed()
            except (SQLAlchemyError, CatalogError) as error:
                if self._catalog is None:
                    raise
                logger.warning("Catalog check failed; still answering from version %s: %s", self._version, error)
            self._checked = self._clock()
            assert self._catalog is not None  # set by _reload_if_changed, or it raised
            return self._catalog

    def _reload_if_changed(self) -> None:
        if self._catalog is None:
            self._store.seed(self._seed_dir)  # first start on an empty database
        if self._store.version() == self._version:
            return
        version, documents = self._store.snapshot()
        self._catalog, self._version = catalog_from_documents(documents), version
        logger.info("Catalog version %s loaded", version)


def live_catalog_from_settings(settings: Settings | None = None) -> LiveCatalog:
    """The process's live catalog: the database of DATABASE_URL, seeded from TOWN_DATA_DIR when empty."""
    from bot.settings import get_settings

    settings = settings or get_settings()
    return LiveCatalog(store_from_settings(settings), settings.town_data_dir, settings.catalog_check_seconds)
