"""The town's clock: real time in the town's zone, or CLOCK_OVERRIDE standing still (tests and demonstrations)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.clock import TownClock, utc_now
from bot.settings import ROOT, Settings, get_settings, town_now

PARIS = ZoneInfo("Europe/Paris")


def test_the_real_clock_is_aware_utc() -> None:
    now = utc_now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert abs((now - datetime.now(timezone.utc)).total_seconds()) < 5


def test_the_towns_clock_reads_the_real_time_in_the_towns_zone() -> None:
    moment = datetime(2026, 7, 14, 8, 0, tzinfo=timezone.utc)
    assert TownClock(PARIS, real=lambda: moment).now() == datetime(2026, 7, 14, 10, 0, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("2026-11-24T10:15:00", datetime(2026, 11, 24, 10, 15, tzinfo=PARIS)),  # naive: the town's time
        ("2026-11-24T10:15:00+00:00", datetime(2026, 11, 24, 11, 15, tzinfo=PARIS)),
    ],
)
def test_clock_override_fixes_the_towns_time(
    monkeypatch: pytest.MonkeyPatch, override: str, expected: datetime
) -> None:
    monkeypatch.setenv("CLOCK_OVERRIDE", override)
    clock = Settings(_env_file=None).town_clock()
    assert clock.now() == expected
    assert clock.now() == expected  # it stands still
    assert clock.now().tzinfo == PARIS


@pytest.mark.parametrize("unset", [None, ""])
def test_without_an_override_the_towns_clock_is_the_real_one(
    monkeypatch: pytest.MonkeyPatch, unset: str | None
) -> None:
    if unset is None:
        monkeypatch.delenv("CLOCK_OVERRIDE", raising=False)
    else:
        monkeypatch.setenv("CLOCK_OVERRIDE", unset)  # as copied from .env.example
    settings = Settings(_env_file=None)
    assert settings.clock_override is None
    assert abs((settings.town_clock().now() - datetime.now(PARIS)).total_seconds()) < 5


def test_the_edges_read_the_processs_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    get_settings.cache_clear()
    monkeypatch.setenv("CLOCK_OVERRIDE", "2026-11-24T10:00:00")
    try:
        assert town_now() == datetime(2026, 11, 24, 10, 0, tzinfo=PARIS)
    finally:
        get_settings.cache_clear()


def test_the_town_reads_no_clock_from_the_environment() -> None:
    for path in (ROOT / "bot" / "town").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert "datetime.now(" not in source and "os.environ" not in source, path
