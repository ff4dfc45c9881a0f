"""A process follows the database's catalog: a version check at most once a second, a reload only after a change."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from bot.db import create_engine_for
from bot.town.catalog.documents import CatalogDocuments
from bot.town.catalog.live import LiveCatalog
from bot.town.catalog.store import CatalogStore

ROOT = Path(__file__).resolve().parents[4]
TOWN = ROOT / "data" / "town"
INVENTORY = date(2027, 3, 11)


class CountingStore(CatalogStore):
    """The real store, counting version checks and full reads, and failing on demand (a database gone away)."""

    def __init__(self, path: Path) -> None:
        super().__init__(create_engine_for(f"sqlite:///{path}"))
        self.checks = self.reads = 0
        self.down = False

    def version(self) -> int:
        if self.down:
            raise OperationalError("SELECT version", {}, Exception("database is locked"))
        self.checks += 1
        return super().version()

    def snapshot(self) -> tuple[int, CatalogDocuments]:
        self.reads += 1
        return super().snapshot()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def store(tmp_path: Path) -> CountingStore:
    counting = CountingStore(tmp_path / "catalog.db")
    counting.create_schema()
    return counting


def test_the_first_use_seeds_an_empty_database_and_loads_it(store: CountingStore):
    live = LiveCatalog(store, TOWN, check_seconds=1.0, clock=Clock())
    assert "mairie" in live.get().services
    assert live.version == 1 and store.reads == 1


def test_between_checks_nothing_is_read_and_a_check_without_change_reads_only_the_version(store: CountingStore):
    clock = Clock()
    live = LiveCatalog(store, TOWN, check_seconds=1.0, clock=clock)
    first = live.get()
    checks = store.checks
    for _ in range(50):  # fifty messages within the same second
        assert live.get() is first
    assert store.checks == checks
    clock.now += 1.0
    assert live.get() is first  # checked, unchanged: the same catalog object
    assert (store.checks, store.reads) == (checks + 1, 1)


def test_a_change_is_seen_at_the_next_check_and_only_then(store: CountingStore):
    clock = Clock()
    live = LiveCatalog(store, TOWN, check_seconds=1.0, clock=clock)
    live.get()
    CatalogStore(store.engine).add_closure("mairie", INVENTORY, None, "Inventaire", "cli:anne")  # another process
    clock.now += 0.5
    assert all(c.start != INVENTORY for c in live.get().service("mairie").closures)  # not checked yet
    clock.now += 0.5
    assert any(c.reason == "Inventaire" for c in live.get().service("mairie").closures)
    assert live.version == 2 and store.reads == 2


def test_when_the_database_fails_the_process_answers_from_the_catalog_it_has(store: CountingStore):
    clock = Clock()
    live = LiveCatalog(store, TOWN, check_seconds=1.0, clock=clock)
    held = live.get()
    store.down = True
    clock.now += 5
    assert live.get() is held
    store.down = False
    clock.now += 0.5
    assert live.get() is held and live.current() is held  # the failed check counts: next one a second later


def test_without_any_catalog_a_database_failure_is_raised(store: CountingStore):
    store.down = True
    with pytest.raises(OperationalError):
        LiveCatalog(store, TOWN, clock=Clock()).get()
