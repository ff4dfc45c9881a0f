"""action_erase_my_data: erases, says so in one short French response, and marks the conversation for the store."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import text

import actions.privacy as privacy
from actions.privacy import ActionEraseMyData, erase_conversation, forget_number_later
from bot.db import create_engine_for
from bot.town.privacy import ERASED_SLOT, ErasureReport
from bot.town.tickets import create_schema
from connectors.shared.tables import create_channel_tables, sms_identities
from tests.unit.console.console_seed import bot, store, user


def tracker(sender_id: str) -> Tracker:
    latest = {"intent": {"name": "affirm", "confidence": 0.99}, "text": "oui"}
    return Tracker(sender_id, {}, latest, [], False, None, {}, "utter_ask_erase_confirm")


class Recorder:
    """Stands in for the erasure and the deferred forgetting of an SMS number."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.erased: list[str] = []
        self.forgotten: list[str] = []

    async def erase(self, sender_id: str) -> ErasureReport:
        if self.fail:
            raise OSError("database is locked")
        self.erased.append(sender_id)
        return ErasureReport([sender_id], {"events": 12}, 1)

    async def forget(self, sender_id: str) -> None:
        self.forgotten.append(sender_id)


async def run(action: ActionEraseMyData, sender_id: str) -> tuple[list[str | None], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker(sender_id), {})
    await asyncio.sleep(0)  # let a scheduled forgetting start
    return [m.get("response") for m in dispatcher.messages], events


@pytest.mark.parametrize("sender_id", ["webchat:5f0c1d", "telegram:777001", "e2e-rest"])
async def test_citizen_who_confirmed_is_erased_and_told_so(sender_id: str) -> None:
    recorder = Recorder()
    responses, events = await run(ActionEraseMyData(recorder.erase, recorder.forget), sender_id)
    assert recorder.erased == [sender_id]
    assert responses == ["utter_erase_done"]
    assert events == [SlotSet(ERASED_SLOT, True)]
    assert recorder.forgotten == []


async def test_sms_citizens_number_is_forgotten_after_the_confirmation_is_sent() -> None:
    recorder = Recorder()
    responses, _ = await run(ActionEraseMyData(recorder.erase, recorder.forget), "sms:4f1a2b3c")
    assert responses == ["utter_erase_done"] and recorder.forgotten == ["sms:4f1a2b3c"]


async def test_a_failed_erasure_is_admitted_and_the_conversation_is_kept() -> None:
    recorder = Recorder(fail=True)
    responses, events = await run(ActionEraseMyData(recorder.erase, recorder.forget), "webchat:5f0c1d")
    assert responses == ["utter_erase_failed"]
    assert events == []  # no erasure marker: the conversation store keeps the conversation


def test_the_action_has_its_rasa_name() -> None:
    assert ActionEraseMyData().name() == "action_erase_my_data"


async def test_erasure_uses_the_database_of_the_settings_and_spares_the_sms_number_for_a_minute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    create_schema(engine)
    create_channel_tables(engine)
    store(engine, "sms:abc", [user("supprimer mes données", "erase_my_data", 0.97, 1.0), bot("Voulez-vous…", 2.0)])
    with engine.begin() as conn:
        conn.execute(
            sms_identities.insert().values(
                sender_id="sms:abc", address="+33536490042", last_seen_at=datetime(2026, 11, 28)
            )
        )
    monkeypatch.setattr(privacy, "erasure_engine", lambda: engine)

    report = await erase_conversation("sms:abc")
    assert report.deleted["events"] == 2

    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sms_identities")).scalar() == 1
    await forget_number_later("sms:abc", delay_seconds=0)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sms_identities")).scalar() == 0
    engine.dispose()
