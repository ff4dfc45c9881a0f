"""The rasa server's conversation store follows the live catalog: a number staff publish stops being masked."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.db import create_engine_for
from bot.runtime.stores.tracker_store import GuichetTrackerStore
from bot.settings import ROOT, get_settings
from bot.town.catalog.store import CatalogStore

NEW_NUMBER = "05 36 49 10 99"


@pytest.fixture()
def checked_every_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CATALOG_CHECK_SECONDS", "0")
    monkeypatch.setenv("TOWN_DATA_DIR", str(ROOT / "data" / "town"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def stored_bot_text(db: Path, sender: str) -> str:
    with sqlite3.connect(db) as connection:
        [(data,)] = connection.execute("SELECT data FROM events WHERE sender_id = ?", (sender,)).fetchall()
    return str(json.loads(data)["text"])


async def test_a_phone_number_published_in_the_catalog_is_kept_readable_from_then_on(
    tmp_path: Path, checked_every_time: None
) -> None:
    db = tmp_path / "guichet.db"
    store = GuichetTrackerStore(domain=Domain.empty(), host=f"sqlite:///{db}")
    said = f"Appelez la mairie au {NEW_NUMBER}."
    await store.save(DialogueStateTracker.from_events("before", [BotUttered(said)]))
    assert NEW_NUMBER not in stored_bot_text(db, "before")  # nobody's published number yet: masked

    catalog = CatalogStore(create_engine_for(f"sqlite:///{db}"))  # the store seeded the catalog on first use
    catalog.put_item("service", "mairie", catalog.get_item("service", "mairie") | {"phone": NEW_NUMBER}, "cli:anne")
    await store.save(DialogueStateTracker.from_events("after", [BotUttered(said)]))
    assert stored_bot_text(db, "after") == said
