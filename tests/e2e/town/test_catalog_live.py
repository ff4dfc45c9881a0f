"""A closure typed at the command line reaches two running action servers within 5 s, without a restart, on the
embedded SQLite database and on PostgreSQL; its removal brings the usual hours back the same way."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.settings import ROOT
from tests.conftest import free_port
from tests.postgres import throwaway_database

LIVE_WITHIN_SECONDS = 5.0
TOWN = ROOT / "data" / "town"
TOMORROW = "2026-03-11"  # the servers' clock stands still on Tuesday 10 March 2026, 11:20


def hours_call(sender: str) -> dict[str, Any]:
    """What the rasa server sends the action server for « la mairie est ouverte demain ? »."""
    latest = {
        "text": "la mairie est ouverte demain ?",
        "intent": {"name": "ask_opening_hours", "confidence": 0.98},
        "entities": [{"entity": "service", "value": "mairie"}, {"entity": "date", "value": "demain"}],
    }
    tracker = {
        "sender_id": sender, "slots": {}, "latest_message": latest, "events": [], "paused": False,
        "followup_action": None, "active_loop": {}, "latest_action_name": "action_listen",
    }  # fmt: skip
    return {"next_action": "action_service_hours", "sender_id": sender, "tracker": tracker, "domain": {}}


def answer(port: int) -> tuple[str, str | None]:
    """The response the action server at `port` chooses, and the closure reason it gives."""
    reply = httpx.post(f"http://127.0.0.1:{port}/webhook", json=hours_call(f"c-{port}"), timeout=10)
    reply.raise_for_status()
    [message] = reply.json()["responses"]
    return message["response"], message.get("closure_reason")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of every process: one var/ directory, and a fresh PostgreSQL database when asked."""
    env = {
        **os.environ, "PYTHONPATH": str(ROOT), "VAR_DIR": str(tmp_path / "var"), "TOWN_DATA_DIR": str(TOWN),
        "CLOCK_OVERRIDE": "2026-03-10T11:20:00", "SANIC_HOST": "127.0.0.1", "RASA_TELEMETRY_ENABLED": "false",
    }  # fmt: skip
    env.pop("DATABASE_URL", None)
    env.pop("CATALOG_CHECK_SECONDS", None)  # the default, as in production
    if request.param == "sqlite":
        yield env
        return
    with throwaway_database("guichet_catalog") as url:
        yield env | {"DATABASE_URL": url}


@pytest.fixture()
def two_action_servers(database: dict[str, str], tmp_path: Path) -> Iterator[list[int]]:
    """Two rasa-sdk action servers with Guichet's actions, started together on an empty database."""
    ports = [free_port(), free_port()]
    logs = [open(tmp_path / f"actions-{port}.log", "wb") for port in ports]  # noqa: SIM115 - closed below
    servers = [
        subprocess.Popen(  # noqa: S603 - fixed command
            [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
            cwd=ROOT,
            env=database,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        for port, log in zip(ports, logs, strict=True)
    ]
    try:
        deadline = time.monotonic() + 120
        for port, server in zip(ports, servers, strict=True):
            while True:
                assert server.poll() is None, (tmp_path / f"actions-{port}.log").read_text(errors="replace")
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "the action server did not start"
                time.sleep(0.2)
        yield ports
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
        for log in logs:
            log.close()


def catalog_cli(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(  # noqa: S603 - fixed command
        [sys.executable, "-m", "bot", "catalog", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def seconds_until_both_say(ports: list[int], expected: tuple[str, str | None]) -> float:
    """How long, from now, until every server gives `expected` (fails after twice the allowed delay)."""
    start = time.monotonic()
    waiting = set(ports)
    while waiting:
        waiting = {port for port in waiting if answer(port) != expected}
        assert time.monotonic() - start < 2 * LIVE_WITHIN_SECONDS, f"still the old answer on {sorted(waiting)}"
        time.sleep(0.1)
    return time.monotonic() - start


def test_a_closure_reaches_both_action_servers_within_five_seconds_and_so_does_its_removal(
    two_action_servers: list[int], database: dict[str, str]
):
    usual = ("utter_hours_day_open", None)
    assert [answer(port) for port in two_action_servers] == [usual, usual]  # both seeded and answering

    catalog_cli(database, "closure", "add", "mairie", "--from", TOMORROW, "--reason", "Inventaire")
    closed = ("utter_hours_day_closed_closure_reopens", "Inventaire")
    assert seconds_until_both_say(two_action_servers, closed) < LIVE_WITHIN_SECONDS

    catalog_cli(database, "closure", "remove", "mairie", "--from", TOMORROW)
    assert seconds_until_both_say(two_action_servers, usual) < LIVE_WITHIN_SECONDS
