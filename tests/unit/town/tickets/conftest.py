"""Fixtures of the ticket tests: a fresh SQLite database with the ticket tables, a media store, a clock to move."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot.db import create_engine_for
from bot.town.media import MediaStore
from bot.town.tickets import create_schema

START = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


class MovableClock:
    """The stores' and workers' clock, moved by the test."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def media(tmp_path: Path) -> MediaStore:
    return MediaStore(tmp_path / "media")


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()
