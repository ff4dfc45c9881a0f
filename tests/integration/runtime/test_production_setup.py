"""The production setup: two rasa servers share conversations through PostgreSQL (tracker store) and Redis (locks).

One action server and two `rasa run` processes, started with the very commands `python -m bot run` uses, on a
throw-away PostgreSQL database and the local Redis. A load balancer may send each message of a conversation to
either process: the conversation must stay whole and in order.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.db import create_engine_for
from bot.runtime.processes import child_environment, children
from bot.settings import ROOT, Settings
from connectors.shared.tables import create_channel_engine, create_channel_tables
from tests.conftest import free_port

pytestmark = [pytest.mark.model, pytest.mark.postgres, pytest.mark.redis]

SERVER_URL = os.environ.get("GUICHET_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("GUICHET_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TOKEN = "production-test-token"
START_TIMEOUT_SECONDS = 900  # a ceiling: two models load in under a minute on a quiet machine


@dataclass
class Cluster:
    """Two rasa servers in front of one database and one Redis."""

    rasa_urls: tuple[str, str]
    database_url: str


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    admin = create_engine_for(SERVER_URL).execution_options(isolation_level="AUTOCOMMIT")
    name = f"guichet_prod_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)
    # As a deployment does before starting several servers at once: create the schema first (two processes that
    # both find the tables missing would both try to create them).
    engine = create_channel_engine(url)
    create_channel_tables(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def wait_until_ready(url: str, processes: list[subprocess.Popen[bytes]], deadline: float) -> None:
    """Poll the rasa server's status (model loaded) until it answers; fail with the logs if a process died."""
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            break
        try:
            if httpx.get(f"{url}/status", params={"token": TOKEN}, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    pytest.fail(f"{url} did not start in time (or a process died)")


@pytest.fixture(scope="module")
def cluster(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    var = tmp_path_factory.mktemp("var")
    action_port, ports = free_port(), (free_port(), free_port())
    processes: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []

    def start(name: str, command: list[str], env: dict[str, str]) -> None:
        log = var / f"{name}.log"
        logs.append(log)
        with log.open("wb") as out:
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))

    for index, port in enumerate(ports):
        settings = Settings(var_dir=var, rasa_port=port, action_port=action_port, database_url=database_url,
                            redis_url=REDIS_URL, rasa_token=TOKEN, _env_file=None)  # fmt: skip
        env = child_environment(settings, TOKEN)
        env.update(DATABASE_URL=database_url, REDIS_URL=REDIS_URL, VAR_DIR=str(var))
        for child in children(settings):
            if child.name == "rasa server" or (child.name == "action server" and index == 0):
                start(f"{child.name.split()[0]}-{port}", child.command, {**env, **child.env})
    urls = (f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}")
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        for url in urls:
            wait_until_ready(url, processes, deadline)
        yield Cluster(urls, database_url)
    except BaseException:
        for log in logs:
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
        raise
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)  # what Rasa and rasa-sdk stop cleanly on (Ctrl-C)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def say(url: str, sender: str, message: str) -> list[dict]:
    response = httpx.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": message}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def texts(replies: list[dict]) -> str:
    return " ".join(r.get("text", "") for r in replies)


def tracker(url: str, sender: str) -> dict:
    response = httpx.get(f"{url}/conversations/rest:{sender}/tracker", params={"token": TOKEN}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def user_texts(events: list[dict]) -> list[str]:
    return [e["text"] for e in events if e["event"] == "user"]


def test_a_follow_up_answered_by_the_other_server_remembers_the_service(cluster: Cluster) -> None:
    first, second = cluster.rasa_urls
    sender = f"prod-{uuid.uuid4().hex[:8]}"

    say(first, sender, "la mairie est ouverte ?")
    say(second, sender, "et son adresse ?")
    say(first, sender, "et leur numéro ?")

    seen_by_first, seen_by_second = tracker(first, sender), tracker(second, sender)
    assert seen_by_second["slots"]["service"] == "mairie"
    assert user_texts(seen_by_first["events"]) == ["la mairie est ouverte ?", "et son adresse ?", "et leur numéro ?"]
    assert seen_by_first["events"] == seen_by_second["events"]


def test_the_two_stage_fallback_counts_across_servers(cluster: Cluster) -> None:
    first, second = cluster.rasa_urls
    sender = f"prod-{uuid.uuid4().hex[:8]}"

    once = say(first, sender, "qsdfghjk azertyuiop")
    twice = say(second, sender, "wxcvbn poiuytreza")

    assert "reformuler" in texts(once) or "autrement" in texts(once)
    buttons = [b for r in twice for b in r.get("buttons", [])]
    assert buttons and buttons[-1]["payload"] == "/help"


async def test_messages_arriving_at_both_servers_at_once_are_handled_one_after_the_other(cluster: Cluster) -> None:
    first, second = cluster.rasa_urls
    sender = f"prod-{uuid.uuid4().hex[:8]}"
    messages = ["bonjour", "la piscine est ouverte ?", "merci", "c un bot ?"]

    async with httpx.AsyncClient(timeout=60) as client:
        replies = await asyncio.gather(
            *(
                client.post(f"{cluster.rasa_urls[i % 2]}/webhooks/rest/webhook", json={"sender": sender, "message": m})
                for i, m in enumerate(messages)
            )
        )

    assert all(r.status_code == 200 and r.json() for r in replies)
    events = tracker(second, sender)["events"]
    assert sorted(user_texts(events)) == sorted(messages)
    # Each turn runs to its end (the assistant listens again) before the next message is taken: no interleaving.
    kinds = [e["event"] if e["event"] == "user" else e.get("name") for e in events if e["event"] in ("user", "action")]
    turns = "|".join(kinds).split("user")[1:]
    assert len(turns) == len(messages)
    assert all(turn.rstrip("|").endswith("action_listen") for turn in turns)
    assert tracker(first, sender)["events"] == events


def test_conversations_are_stored_in_postgresql(cluster: Cluster) -> None:
    sender = f"prod-{uuid.uuid4().hex[:8]}"
    say(cluster.rasa_urls[1], sender, "bonjour")

    engine = create_engine_for(cluster.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT type_name FROM events WHERE sender_id = :s"), {"s": f"rest:{sender}"})
            assert "user" in set(rows.scalars())
    finally:
        engine.dispose()
