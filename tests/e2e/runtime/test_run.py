"""`python -m bot run` (what `make run` starts) answers citizens on the REST channel and stops cleanly."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.settings import ROOT
from tests.conftest import free_port

pytestmark = pytest.mark.model


@dataclass
class Running:
    """A running Guichet, started as `make run` does."""

    url: str
    token: str
    process: subprocess.Popen[bytes]
    var: Path
    ports: tuple[int, ...]


@pytest.fixture(scope="module")
def guichet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    var = tmp_path_factory.mktemp("var")
    rasa_port, action_port, console_port = free_port(), free_port(), free_port()
    env = dict(
        os.environ,
        VAR_DIR=str(var),
        RASA_PORT=str(rasa_port),
        ACTION_PORT=str(action_port),
        CONSOLE_PORT=str(console_port),
        RASA_TOKEN="e2e-token",
        DATABASE_URL="",
    )
    env.pop("DATABASE_URL")
    log = (var / "run.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{rasa_port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/status", params={"token": "e2e-token"}, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(1)
    else:
        process.kill()
        pytest.fail(f"Guichet did not start: {log_tail(var)}")
    yield Running(url, "e2e-token", process, var, (rasa_port, action_port))
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def log_tail(var: Path, lines: int = 40) -> str:
    """The end of what the processes printed, to explain a failure."""
    return "\n".join((var / "run.log").read_text(errors="replace").splitlines()[-lines:])


def say(guichet: Running, sender: str, text: str) -> list[dict]:
    response = httpx.post(f"{guichet.url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=30)
    assert response.status_code == 200
    return response.json()


def texts(replies: list[dict]) -> str:
    return " ".join(r.get("text", "") for r in replies)


def test_bonjour_gets_a_french_greeting(guichet: Running) -> None:
    assert "Bonjour, je suis Guichet" in texts(say(guichet, "e2e-greet", "bonjour"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bjr", "je suis Guichet"),
        ("c un bot ?", "assistant automatique"),
        ("merci bcp", "plaisir"),
    ],
)
def test_citizen_spelling_gets_the_right_answer(guichet: Running, text: str, expected: str) -> None:
    assert expected in texts(say(guichet, f"e2e-{text}", text))


def test_not_understood_twice_offers_choices_with_a_way_out(guichet: Running) -> None:
    first = say(guichet, "e2e-fallback", "qsdfghjk azertyuiop")
    assert "reformuler" in texts(first) or "autrement" in texts(first), log_tail(guichet.var)
    second = say(guichet, "e2e-fallback", "wxcvbn poiuytreza")
    buttons = [b for r in second for b in r.get("buttons", [])]
    assert buttons and buttons[-1]["payload"] == "/help"


def test_the_http_api_needs_the_token(guichet: Running) -> None:
    assert httpx.get(f"{guichet.url}/status", timeout=5).status_code == 401
    assert httpx.get(f"{guichet.url}/status", params={"token": "wrong"}, timeout=5).status_code == 401


def test_conversations_are_stored_in_sqlite_under_var(guichet: Running) -> None:
    say(guichet, "e2e-stored", "bonjour")
    with sqlite3.connect(guichet.var / "guichet.db") as db:
        rows = db.execute("SELECT type_name FROM events WHERE sender_id = 'e2e-stored'").fetchall()
    assert ("user",) in rows


def test_ctrl_c_stops_every_process(guichet: Running) -> None:
    guichet.process.send_signal(signal.SIGINT)
    assert guichet.process.wait(timeout=60) == 0
    for port in guichet.ports:
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
