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
        rows = db.execute("SELECT type_name FROM events WHERE sender_id = 'rest:e2e-stored'").fetchall()
    assert ("user",) in rows


UNAVAILABLE = "momentanément indisponible"


def descendants(pid: int) -> list[int]:
    """Every process started under `pid` (children, grandchildren...), from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def action_server_pid(guichet: Running) -> int:
    """The action server's process: the one serving `--actions`."""
    (pid,) = [p for p in descendants(guichet.process.pid) if "--actions" in command_line(p)]
    return pid


def test_the_action_server_refuses_a_caller_without_the_shared_secret(guichet: Running) -> None:
    url = f"http://127.0.0.1:{guichet.ports[1]}"
    call = {"next_action": "action_erase_my_data", "sender_id": "telegram:99", "tracker": {}, "domain": {}}
    assert httpx.post(f"{url}/webhook", json=call, timeout=10).status_code == 401
    wrong = {"X-Guichet-Action-Token": "guess"}
    assert httpx.post(f"{url}/webhook", json=call, headers=wrong, timeout=10).status_code == 403
    assert httpx.get(f"{url}/actions", headers=wrong, timeout=10).status_code == 403
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200  # health checks stay open


def test_no_secret_shows_in_a_process_list(guichet: Running) -> None:
    secrets_ = {guichet.token, (guichet.var / "action_server_token").read_text().strip()}
    commands = [command_line(p) for p in [guichet.process.pid, *descendants(guichet.process.pid)]]
    assert any("bot.runtime.server" in c for c in commands) and any("bot.runtime.actions" in c for c in commands)
    assert not [c for c in commands for secret in secrets_ if secret in c]


def test_the_rasa_token_never_reaches_the_logs(guichet: Running) -> None:
    from bot.db import create_engine_for
    from bot.town.tickets import TicketStore, create_schema
    from bot.town.tickets.model import TicketDraft

    engine = create_engine_for(f"sqlite:///{guichet.var / 'guichet.db'}")
    create_schema(engine)
    store = TicketStore(engine)
    ticket = store.create_ticket(
        TicketDraft("voirie", "trou", address="Rue Serviez", channel="rest", sender_id="e2e-n")
    )
    store.set_status(ticket.ref, "pris_en_charge", "Une équipe passe demain.", actor="e2e")  # the console notifies
    deadline = time.monotonic() + 60
    while "trigger_intent" not in (guichet.var / "run.log").read_text(errors="replace"):
        assert time.monotonic() < deadline, log_tail(guichet.var)
        time.sleep(1)
    assert httpx.get(f"{guichet.url}/status", params={"token": guichet.token}, timeout=10).status_code == 200
    time.sleep(1)
    assert guichet.token not in (guichet.var / "run.log").read_text(errors="replace")


def test_a_body_larger_than_the_limit_is_refused_with_413(guichet: Running) -> None:
    huge = b"x" * (6 * 1024 * 1024 + 1)  # REQUEST_MAX_BYTES
    response = httpx.post(f"{guichet.url}/model/parse", params={"token": guichet.token}, content=huge, timeout=60)
    assert response.status_code == 413
    assert "Bonjour" in texts(say(guichet, "e2e-after-413", "bonjour"))


def normal_answer_within(guichet: Running, sender: str, seconds: float) -> str:
    """A catalog answer that is not « indisponible », asked again until one comes or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    answer = texts(say(guichet, sender, "horaires de la piscine"))
    while UNAVAILABLE in answer:
        assert time.monotonic() < deadline, log_tail(guichet.var)
        time.sleep(0.5)
        answer = texts(say(guichet, sender, "horaires de la piscine"))
    return answer


def test_a_killed_action_server_is_told_honestly_then_started_again(guichet: Running) -> None:
    normal_answer_within(guichet, "e2e-crash", 30)  # a busy machine may be slow to the first catalog answer
    os.kill(action_server_pid(guichet), signal.SIGKILL)
    started = time.monotonic()
    answer = texts(say(guichet, "e2e-crash", "horaires de la mediatheque"))
    assert UNAVAILABLE in answer and time.monotonic() - started < 2.0
    assert normal_answer_within(guichet, "e2e-crash", 30 - (time.monotonic() - started))
    assert "action server stopped" in (guichet.var / "run.log").read_text(errors="replace")
    assert guichet.process.poll() is None  # the supervisor and the other processes kept running


def test_ctrl_c_stops_every_process(guichet: Running) -> None:
    guichet.process.send_signal(signal.SIGINT)
    assert guichet.process.wait(timeout=60) == 0
    for port in guichet.ports:
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
