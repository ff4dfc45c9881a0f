"""Conversations are stored without raw personal data, and an unreachable database fails loudly."""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.runtime.stores.tracker_store import (
    GuichetTrackerStore,
    TrackerStoreUnavailable,
    masked_events,
    public_contacts,
    wait_for_database,
)
from bot.town.privacy.erasure import ERASED_SLOT

PHONE = "06 12 34 56 78"
EMAIL = "jeanne.martin@example.org"
POSTGRES_URL = os.environ.get("GUICHET_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


async def test_personal_data_never_reaches_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'conversations.db'}"
    store = GuichetTrackerStore(domain=Domain.empty(), host=url)
    tracker = DialogueStateTracker.from_events(
        "citizen-1",
        [
            UserUttered(f"rappelez moi au {PHONE} ou {EMAIL}", {"name": "inform", "confidence": 0.9}),
            SlotSet("note", f"contact {EMAIL}"),
            BotUttered(f"Nous vous rappellerons au {PHONE}."),
        ],
    )
    await store.save(tracker)

    with sqlite3.connect(tmp_path / "conversations.db") as db:
        rows = db.execute("SELECT type_name, intent_name, data FROM events WHERE sender_id = 'citizen-1'").fetchall()
    stored = " ".join(data for _, _, data in rows)
    assert PHONE not in stored and "0612345678" not in stored
    assert EMAIL not in stored
    assert "[téléphone masqué]" in json.loads(rows[0][2])["text"]
    assert ("user", "inform") in {(t, i) for t, i, _ in rows}

    again = await store.retrieve("citizen-1")
    assert again is not None
    assert len([e for e in again.events if isinstance(e, UserUttered)]) == 1


def test_an_unreachable_database_stops_with_a_clear_error() -> None:
    with pytest.raises(TrackerStoreUnavailable, match="cannot be reached"):
        wait_for_database("postgresql://nobody@127.0.0.1:1/none", attempts=2, delay_seconds=0.01)


def test_the_towns_own_numbers_stay_readable_in_stored_bot_text() -> None:
    domain = Domain.from_dict(
        {"responses": {"utter_gas": [{"text": "Urgence gaz : 0 800 47 33 33 (gratuit, 24h/24)."}]}}
    )
    keep = public_contacts(domain, frozenset({"05 36 49 10 00", "accueil@demo-pau.example"}))
    stored = masked_events(
        [BotUttered("Urgence gaz : 0 800 47 33 33. Mairie : 05 36 49 10 00, accueil@demo-pau.example")], keep
    )
    assert stored[0]["text"] == "Urgence gaz : 0 800 47 33 33. Mairie : 05 36 49 10 00, accueil@demo-pau.example"
    citizen = masked_events([UserUttered("mon numero 06 12 34 56 78")], keep)
    assert "06 12 34 56 78" not in citizen[0]["text"]


def _conversation(sender: str, *sessions: list[str]) -> DialogueStateTracker:
    """A tracker with one session per list of user texts, each session opened as Rasa opens one."""
    tracker = DialogueStateTracker(sender, [])
    for number, texts in enumerate(sessions):
        tracker.update(ActionExecuted("action_session_start", timestamp=1000.0 * (number + 1)))
        tracker.update(SessionStarted(timestamp=1000.0 * (number + 1)))
        tracker.update(ActionExecuted("action_listen", timestamp=1000.0 * (number + 1)))
        for offset, text in enumerate(texts, start=1):
            stamp = 1000.0 * (number + 1) + offset
            tracker.update(UserUttered(text, {"name": "greet", "confidence": 0.9}, timestamp=stamp))
            tracker.update(ActionExecuted("utter_greet", timestamp=stamp))
            tracker.update(BotUttered("Bonjour !", timestamp=stamp))
            tracker.update(ActionExecuted("action_listen", timestamp=stamp))
    return tracker


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'conversations.db'}"
        return
    request.applymarker(pytest.mark.postgres)
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"guichet_store_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


async def test_each_event_is_stored_once_and_a_turn_reads_back_the_latest_session(store_url: str) -> None:
    store = GuichetTrackerStore(domain=Domain.empty(), host=store_url)
    tracker = _conversation("citizen-2", ["bonjour"])
    await store.save(tracker)
    await store.save(tracker)  # nothing new: nothing written
    tracker = _conversation("citizen-2", ["bonjour"], ["re bonjour", "toujours la ?"])
    await store.save(tracker)

    with store.engine.connect() as connection:
        stored = connection.execute(
            sa.text("SELECT type_name FROM events WHERE sender_id = 'citizen-2' ORDER BY id")
        ).scalars().all()  # fmt: skip
    assert stored == [event.type_name for event in tracker.events]

    latest = await store.retrieve("citizen-2")
    assert latest is not None
    assert [e.text for e in latest.events if isinstance(e, UserUttered)] == ["re bonjour", "toujours la ?"]
    assert isinstance(latest.events[1], SessionStarted)
    full = await store.retrieve_full_tracker("citizen-2")
    assert full is not None
    assert [e.text for e in full.events if isinstance(e, UserUttered)] == ["bonjour", "re bonjour", "toujours la ?"]
    assert list(full.events) == list(tracker.events)
    assert await store.retrieve("nobody") is None


async def test_a_turn_saves_its_new_events_without_counting_the_stored_ones(store_url: str) -> None:
    store = GuichetTrackerStore(domain=Domain.empty(), host=store_url)
    await store.save(_conversation("citizen-5", ["bonjour"], ["re bonjour"]))
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    for text in ("toujours la ?", "merci"):  # two turns, each read, extended and saved as Rasa does
        tracker = await store.retrieve("citizen-5")
        assert tracker is not None
        tracker.update(UserUttered(text, {"name": "greet", "confidence": 0.9}, timestamp=3000.0))
        tracker.update(BotUttered("Bonjour !", timestamp=3000.0))
        statements.clear()
        await store.save(tracker)
        assert [s.split()[0].upper() for s in statements] == ["INSERT"]  # no count, no re-read
        await store.save(tracker)  # saved again with nothing new: nothing written
        assert [s.split()[0].upper() for s in statements] == ["INSERT"]

    other_process = GuichetTrackerStore(domain=Domain.empty(), host=store_url)
    latest = await other_process.retrieve("citizen-5")
    assert latest is not None
    assert [e.text for e in latest.events if isinstance(e, UserUttered)] == ["re bonjour", "toujours la ?", "merci"]
    with store.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT count(*) FROM events WHERE sender_id = 'citizen-5'")).scalar_one()
    assert rows == len(_conversation("citizen-5", ["bonjour"], ["re bonjour"]).events) + 4


async def test_after_an_erasure_a_later_save_stores_only_what_came_after(store_url: str) -> None:
    store = GuichetTrackerStore(domain=Domain.empty(), host=store_url)
    await store.save(_conversation("citizen-6", ["bonjour"]))
    tracker = await store.retrieve("citizen-6")
    assert tracker is not None
    tracker.update(UserUttered("supprimer mes donnees", {"name": "erase_my_data", "confidence": 1.0}))
    tracker.update(ActionExecuted("action_erase_my_data"))
    tracker.update(SlotSet(ERASED_SLOT, True))
    await store.save(tracker)
    tracker.update(BotUttered("Vos données ont été supprimées."))
    await store.save(tracker)  # the same turn saved again: what was erased is not stored back

    with store.engine.connect() as connection:
        stored = connection.execute(
            sa.text("SELECT type_name FROM events WHERE sender_id = 'citizen-6' ORDER BY id")
        ).scalars().all()  # fmt: skip
    assert stored == ["bot"]


async def test_a_conversation_without_session_start_reads_back_whole(store_url: str) -> None:
    store = GuichetTrackerStore(domain=Domain.empty(), host=store_url)
    tracker = DialogueStateTracker.from_events(
        "citizen-3", [ActionExecuted("action_listen"), UserUttered("bonjour", {"name": "greet", "confidence": 1.0})]
    )
    await store.save(tracker)
    tracker.update(BotUttered("Bonjour !"))
    await store.save(tracker)
    again = await store.retrieve("citizen-3")
    assert again is not None and list(again.events) == list(tracker.events)


async def test_the_sqlite_store_writes_ahead_like_the_ticket_store(tmp_path: Path) -> None:
    store = GuichetTrackerStore(domain=Domain.empty(), host=f"sqlite:///{tmp_path / 'conversations.db'}")
    await store.save(_conversation("citizen-4", ["bonjour"]))
    with sqlite3.connect(tmp_path / "conversations.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
