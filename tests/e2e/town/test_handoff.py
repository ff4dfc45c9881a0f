"""A real handoff: `python -m bot run`, a web chat citizen (python-socketio) and an agent in the console.

Needs a model trained with the handoff domain: MODELS_DIR (default models/) must hold it. The town's clock is set
to a Tuesday morning with CLOCK_OVERRIDE, so the call-back delay read from the town hall's hours is known.
First no agent is « disponible »: the citizen leaves a call-back (number and question), staff mark it « rappelé »,
and the citizen is asked once whether the answer suited them. Then an agent makes themself available and takes the
next citizen live.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import socketio
import sqlalchemy as sa

from bot.settings import ROOT
from tests.conftest import free_port

pytestmark = pytest.mark.model

TOKEN = "e2e-handoff-token"
AGENT, PASSWORD = "agent.accueil@pau.example", "mot de passe très solide"
TUESDAY_MORNING = "2026-11-24T10:00:00"


@dataclass
class Guichet:
    rasa_url: str
    console_url: str
    process: subprocess.Popen[bytes]
    database: str


@pytest.fixture(scope="module")
def guichet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guichet]:
    var = tmp_path_factory.mktemp("var")
    rasa_port, action_port, console_port = free_port(), free_port(), free_port()
    console_url = f"http://127.0.0.1:{console_port}"
    env = dict(os.environ, VAR_DIR=str(var), RASA_PORT=str(rasa_port), ACTION_PORT=str(action_port),
               CONSOLE_PORT=str(console_port), RASA_TOKEN=TOKEN, CLOCK_OVERRIDE=TUESDAY_MORNING,
               ALLOWED_ORIGINS=console_url, HANDOFF_TIMEOUT_SECONDS="3600")  # fmt: skip
    env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "bot", "create-staff-user", AGENT, "--role", "agent", "--password-stdin"],
                   input=PASSWORD.encode(), cwd=ROOT, env=env, check=True, capture_output=True)  # fmt: skip
    log = (var / "guichet.log").open("wb")  # a file, not a pipe: three chatty processes would fill a pipe and block
    process = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 600  # loading the model takes minutes on a busy machine
    while time.monotonic() < deadline and process.poll() is None:
        try:
            ready = httpx.get(f"{console_url}/open311/v2/services.json", timeout=2).status_code == 200
            if ready and httpx.get(f"http://127.0.0.1:{rasa_port}/status", params={"token": TOKEN}).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(1)
    else:
        process.send_signal(signal.SIGINT)  # `bot run` stops its children; a kill would orphan them
        process.wait(timeout=60)
        pytest.fail(f"Guichet did not start: {(var / 'guichet.log').read_text()[-3000:]}")
    yield Guichet(f"http://127.0.0.1:{rasa_port}", console_url, process, f"sqlite:///{var / 'guichet.db'}")
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    log.close()


class Citizen:
    """A web chat user on the real rasa server, recording what the bot sends."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.client.on("bot_uttered", lambda data: self.received.put_nowait(data))
        self.session_id = ""

    async def connect(self, guichet: Guichet) -> None:
        confirmed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.client.on("session_confirm", lambda data: confirmed.done() or confirmed.set_result(data))
        # python-engineio's WebSocket client needs a newer aiohttp than rasa pins: long-polling here.
        await self.client.connect(guichet.rasa_url, headers={"Origin": guichet.console_url}, transports=["polling"])
        await self.client.emit("session_request", {"session_id": None})
        self.session_id = await asyncio.wait_for(confirmed, timeout=10)

    async def say(self, text: str) -> None:
        await self.client.emit("user_uttered", {"message": text, "session_id": self.session_id})

    async def next_text(self, timeout: float = 30) -> str:
        return str((await asyncio.wait_for(self.received.get(), timeout=timeout)).get("text", ""))

    async def silence(self, seconds: float) -> list[dict[str, Any]]:
        await asyncio.sleep(seconds)
        heard = []
        while not self.received.empty():
            heard.append(self.received.get_nowait())
        return heard


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match
    return match.group(1)


async def wait_for(check: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(0.5)
    raise AssertionError("timed out")


async def log_in(agent: httpx.AsyncClient) -> None:
    login = await agent.get("/login")
    await agent.post("/login", data={"email": AGENT, "password": PASSWORD, "csrf_token": csrf_of(login.text)})


def query(guichet: Guichet, statement: str, **params: Any) -> list[Any]:
    engine = sa.create_engine(guichet.database)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(statement), params).all())
    finally:
        engine.dispose()


async def test_with_no_agent_available_the_citizen_leaves_a_call_back_then_rates_the_answer(guichet: Guichet) -> None:
    citizen = Citizen()
    await citizen.connect(guichet)
    sender = f"webchat:{citizen.session_id}"

    await citizen.say("je voudrais parler a un agent de la mairie")
    assert "Aucun agent n'est disponible" in await citizen.next_text()
    assert "numéro de téléphone" in await citizen.next_text()
    await citizen.say("06 12 34 56")
    assert "ne semble pas valide" in await citizen.next_text()
    assert "numéro de téléphone" in await citizen.next_text()
    await citizen.say("06 45 67 89 12")
    confirmed = await citizen.next_text()
    assert "06 •• •• •• 12" in confirmed and "quelle est votre question" in confirmed
    await citizen.say("je voudrais savoir pourquoi ma facture de cantine a augmente")
    recorded = await citizen.next_text()
    ref = re.search(r"PAU-\d{4}-\d{6}", recorded)
    assert ref is not None, recorded
    assert "06 •• •• •• 12" in recorded and "aujourd'hui avant 12h" in recorded  # Tuesday 10:00, open till 12h
    ((contact, description),) = query(
        guichet, "SELECT contact, description FROM tickets WHERE service_request_id = :ref", ref=ref.group(0)
    )
    assert contact == "+33645678912"
    assert description == "Demande de rappel : je voudrais savoir pourquoi ma facture de cantine a augmente"
    stored = str(query(guichet, "SELECT data FROM events WHERE sender_id = :s", s=sender))
    assert "06 45 67 89 12" not in stored and "645678912" not in stored  # masked in the conversation store

    async with httpx.AsyncClient(base_url=guichet.console_url, follow_redirects=False, timeout=30) as agent:
        await log_in(agent)
        page = (await agent.get(f"/tickets/{ref.group(0)}")).text
        assert "Demande de rappel" in page and "06 •• •• •• 12" in page and "+33645678912" not in page
        done = await agent.post(f"/tickets/{ref.group(0)}/callback",
                                data={"csrf_token": csrf_of(page), "outcome": "rappele"})  # fmt: skip
        assert done.status_code == 303
        assert query(guichet, "SELECT action FROM audit_log ORDER BY id DESC LIMIT 1") == [("callback_outcome",)]

        # The outbox tells the citizen on their channel, then asks once whether the answer suited them.
        assert "traité" in await citizen.next_text(timeout=60)
        asked = await asyncio.wait_for(citizen.received.get(), timeout=60)
        assert "La réponse vous convient-elle" in asked["text"]
        assert [b["payload"] for b in asked.get("quick_replies") or asked.get("buttons") or []] == ["/affirm", "/deny"]
        await citizen.say("/affirm")
        assert "Merci pour votre réponse" in await citizen.next_text()
        assert query(guichet, "SELECT satisfied FROM ticket_satisfaction") == [(1,)]
        assert await citizen.silence(3) == [], "asked once"

        analytics = (await agent.get("/analytics")).text
        assert "Satisfaction par catégorie" in analytics and "<td>100 %</td>" in analytics
    await citizen.client.disconnect()


async def test_citizen_talks_with_an_agent_then_the_bot_answers_again(guichet: Guichet) -> None:
    citizen = Citizen()
    await citizen.connect(guichet)
    sender = f"webchat:{citizen.session_id}"
    async with httpx.AsyncClient(base_url=guichet.console_url, follow_redirects=False, timeout=30) as agent:
        await log_in(agent)
        queue = (await agent.get("/handoffs")).text
        available = await agent.post("/handoffs/presence", data={"csrf_token": csrf_of(queue), "available": "1"})
        assert available.status_code == 303

        await citizen.say("je voudrais parler a un agent de la mairie")
        waiting = await citizen.next_text()
        assert "agent de la mairie" in waiting and "n° 1 dans la file" in waiting and "3 min" in waiting

        async def request_in_queue() -> str | None:
            page = (await agent.get("/handoffs")).text
            found = re.search(r'action="/handoffs/(\d+)/take"', page)
            return found.group(1) if found else None

        request_id = await wait_for(request_in_queue)
        queue = (await agent.get("/handoffs")).text
        taken = await agent.post(f"/handoffs/{request_id}/take", data={"csrf_token": csrf_of(queue)})
        assert taken.status_code == 303

        await citizen.say("c'est pour une facture de cantine")
        assert await citizen.silence(4) == [], "the bot must stay silent while an agent has the conversation"

        async def citizen_message_seen() -> bool:
            feed = (await agent.get(f"/handoffs/{request_id}/messages", params={"after": 0})).json()
            return any(m["text"] == "c'est pour une facture de cantine" for m in feed["messages"])

        await wait_for(citizen_message_seen)

        page = (await agent.get(f"/handoffs/{request_id}")).text
        reply = {"csrf_token": csrf_of(page), "text": "Bonjour, je regarde votre facture."}
        sent = await agent.post(f"/handoffs/{request_id}/reply", data=reply)
        assert sent.status_code == 303
        assert await citizen.next_text() == "Bonjour, je regarde votre facture."

        back = await agent.post(f"/handoffs/{request_id}/release", data={"csrf_token": csrf_of(page)})
        assert back.status_code == 303
        assert "L'échange avec l'agent est terminé" in await citizen.next_text()

        await citizen.say("bonjour")
        assert "Bonjour" in await citizen.next_text()

        transcript = (await agent.get(f"/conversations/{sender}")).text
        assert "Bonjour, je regarde votre facture." in transcript
    await citizen.client.disconnect()
