"""The rest of a long SMS answer waits per sender, is taken part by part, and expires."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.db import create_engine_for
from connectors.shared.continuations import MemoryContinuationStore, SqlContinuationStore
from connectors.shared.offers import Button
from connectors.shared.tables import create_channel_tables

MENU = [Button("Oui", "/affirm"), Button("Non", "/deny")]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 4, 8, 0)

    def __call__(self) -> datetime:
        return self.now


def stores(tmp_path: Path, clock: Clock):  # type: ignore[no-untyped-def]
    engine = create_engine_for(f"sqlite:///{tmp_path / 'channels.db'}")
    create_channel_tables(engine)
    return [SqlContinuationStore(engine, clock), MemoryContinuationStore(clock)]


@pytest.mark.asyncio
async def test_parts_come_one_by_one_with_the_menu_for_the_last(tmp_path: Path) -> None:
    for store in stores(tmp_path, Clock()):
        await store.keep("sms:a", ["deux", "trois"], MENU)
        await store.keep("sms:b", ["autre"], [])
        second, third = await store.take("sms:a"), await store.take("sms:a")
        assert (second.text, second.more, third.text, third.more) == ("deux", True, "trois", False)  # type: ignore[union-attr]
        assert third.menu == MENU  # type: ignore[union-attr]
        assert await store.take("sms:a") is None
        assert (await store.take("sms:b")).text == "autre"  # type: ignore[union-attr]  # kept per sender


@pytest.mark.asyncio
async def test_a_new_answer_replaces_the_rest_and_the_rest_expires(tmp_path: Path) -> None:
    clock = Clock()
    for store in stores(tmp_path, clock):
        await store.keep("sms:a", ["ancienne suite"], [])
        await store.keep("sms:a", [], [])  # a short answer since: nothing waits any more
        assert await store.take("sms:a") is None
        await store.keep("sms:a", ["suite"], [])
        clock.now += timedelta(hours=2)
        assert await store.take("sms:a") is None
        clock.now -= timedelta(hours=2)
