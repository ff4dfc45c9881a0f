"""The catalog store on the real PostgreSQL server: processes starting together seed it once, concurrent closures
are serialised, and the shipped town round-trips without loss."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.db import create_engine_for
from bot.settings import ROOT
from bot.town.catalog import load_catalog
from bot.town.catalog.documents import write_documents
from bot.town.catalog.store import CatalogStore
from tests.postgres import throwaway_database

pytestmark = pytest.mark.postgres

TOWN = ROOT / "data" / "town"


@pytest.fixture()
def database_url() -> Iterator[str]:
    """A throw-away, empty database."""
    with throwaway_database("guichet_catalog") as url:
        yield url


def open_store(url: str) -> CatalogStore:
    """What each process does on first use: its own engine, the tables created if missing."""
    store = CatalogStore(create_engine_for(url))
    store.create_schema()
    return store


def test_processes_starting_together_seed_the_catalog_once(database_url: str):
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: open_store(database_url), range(4)))
        seeded = list(pool.map(lambda store: store.seed(TOWN), stores))
    assert sorted(seeded) == [False, False, False, True]
    assert {store.version() for store in stores} == {1}
    seeds = [c for c in stores[0].history(500) if c.action == "seed"]
    assert len(seeds) == 13 + 12 + 13 + 1 + 4  # services, procedures, categories, waste, and the four files' headers
    for store in stores:
        store.engine.dispose()


def test_concurrent_closures_are_serialised_and_the_catalog_round_trips(database_url: str, tmp_path: Path):
    stores = [open_store(database_url) for _ in range(3)]
    stores[0].seed(TOWN)
    days = [date(2027, 3, 1) + timedelta(days=i) for i in range(6)]
    with ThreadPoolExecutor(3) as pool:
        versions = list(pool.map(
            lambda i: stores[i % 3].add_closure("piscine", days[i], None, f"travaux {i}", f"agent{i}"), range(6)
        ))  # fmt: skip
    assert sorted(versions) == list(range(2, 8))  # one version each, none lost
    reasons = {c.reason for c in stores[1].catalog()[1].service("piscine").closures}
    assert {f"travaux {i}" for i in range(6)} <= reasons

    for i, day in enumerate(days):
        stores[i % 3].remove_closure("piscine", day, "agent")
    write_documents(stores[2].snapshot()[1], tmp_path / "exported")
    assert load_catalog(tmp_path / "exported") == load_catalog(TOWN)
    for store in stores:
        store.engine.dispose()
