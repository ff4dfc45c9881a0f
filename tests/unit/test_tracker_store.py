"""Conversations are stored without raw personal data, and an unreachable database fails loudly."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.tracker_store import (
    GuichetTrackerStore,
    TrackerStoreUnavailable,
    masked_events,
    public_contacts,
    wait_for_database,
)

PHONE = "06 12 34 56 78"
EMAIL = "jeanne.martin@example.org"


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
