"""A staff status change reaches the citizen on their channel, in French, through the real rasa server app.

The outbox worker's RasaNotifier posts trigger_intent to the rasa server's HTTP API (served in-process over
ASGI, with the trained model); the citizen's channel is a recording output channel.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel
from sanic import Sanic

from bot.db import create_engine_for
from bot.settings import get_settings
from bot.town.notify import KindRouter, RasaNotifier
from bot.town.tickets import OutboxStore, OutboxWorker, TicketDraft, TicketStore, create_schema
from bot.town.tickets.outbox import NOTIFY_KIND
from bot.town.tickets.satisfaction import SATISFACTION_INTENT, SATISFACTION_KIND

pytestmark = pytest.mark.model

TOKEN = "test-token"
CITIZEN = "424242"


class RecordingInput(InputChannel):
    """Stands for the Telegram channel; what the assistant sends to it is recorded."""

    def __init__(self) -> None:
        self.output = CollectingOutputChannel()

    @classmethod
    def name(cls) -> str:
        return "telegram"

    def get_output_channel(self) -> OutputChannel | None:
        return self.output


@pytest.fixture
def store(tmp_path: Path) -> TicketStore:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    create_schema(engine)
    return TicketStore(engine)


@contextlib.asynccontextmanager
async def served(app: Sanic) -> AsyncIterator[None]:
    """Run the ASGI lifespan of `app` (Sanic finalises its routes at start-up) around the block."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, replies.put))
    await inbox.put({"type": "lifespan.startup"})
    assert (await replies.get())["type"] == "lifespan.startup.complete"
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await replies.get()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


@pytest.fixture
async def rasa_http(agent: Agent) -> AsyncIterator[tuple[httpx.AsyncClient, RecordingInput]]:
    """The rasa server's HTTP API over ASGI, with a recording `telegram` channel."""
    from rasa.server import create_app

    Sanic.test_mode = True  # several Sanic apps in one test process
    app = create_app(agent=agent, auth_token=TOKEN)
    channel = RecordingInput()
    app.ctx.input_channels = [channel]
    async with served(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rasa") as client:
            yield client, channel


def worker_for(store: TicketStore, client: httpx.AsyncClient) -> OutboxWorker:
    """The console's routing: ticket updates, and the satisfaction question once a ticket is closed."""
    router = KindRouter({
        NOTIFY_KIND: RasaNotifier("http://rasa", TOKEN, client=client),
        SATISFACTION_KIND: RasaNotifier("http://rasa", TOKEN, client=client, intent=SATISFACTION_INTENT),
    })  # fmt: skip
    return OutboxWorker(OutboxStore(store.engine), router)


async def deliver(store: TicketStore, client: httpx.AsyncClient, jobs: int) -> None:
    run = await worker_for(store, client).run_once()
    assert (run.sent + run.delivered, run.failed, run.dead) == (jobs, 0, 0)


@pytest.mark.parametrize(
    ("state", "note", "reason", "expected"),
    [
        ("pris_en_charge", "Équipe prévue lundi", None, ["est pris en charge", "Équipe prévue lundi"]),
        ("planifie", "Intervention le 12 mars", None, ["intervention est planifiée", "Intervention le 12 mars"]),
        ("traite", "Réparé", None, ["est traité", "Réparé"]),
        ("non_retenu", None, "Voie privée", ["n'a pas été retenu", "Motif : Voie privée"]),
    ],
)
async def test_status_change_is_told_to_the_citizen_on_their_channel(
    store: TicketStore,
    rasa_http: tuple[httpx.AsyncClient, RecordingInput],
    state: str,
    note: str | None,
    reason: str | None,
    expected: list[str],
) -> None:
    client, channel = rasa_http
    ticket = store.create_ticket(TicketDraft("voirie", address="12 Rue Serviez", channel="telegram", sender_id=CITIZEN))

    store.set_status(ticket.ref, state, note=note, reason=reason)
    closed = state in ("traite", "non_retenu")
    await deliver(store, client, jobs=2 if closed else 1)

    message, *question = channel.output.messages
    assert [q["text"] for q in question] == (
        [f"Votre demande {ticket.ref} est close. La réponse vous convient-elle ?"] if closed else []
    )
    assert message["recipient_id"] == CITIZEN
    text: str = message["text"]
    assert text.startswith(f"Ville de {get_settings().town_name} : ")
    assert ticket.ref in text and all(part in text for part in expected)
    assert "None" not in text and len(text) <= 160  # one SMS


async def test_status_change_reaches_every_follower_once(
    store: TicketStore, rasa_http: tuple[httpx.AsyncClient, RecordingInput]
) -> None:
    client, channel = rasa_http
    ticket = store.create_ticket(
        TicketDraft("eclairage_public", street="Rue Pasteur", channel="telegram", sender_id=CITIZEN)
    )
    store.follow(ticket.ref, "telegram", "777")

    store.set_status(ticket.ref, "traite", note="Lampadaire remplacé")
    worker = worker_for(store, client)
    first, second = await worker.run_once(), await worker.run_once()

    # both followers get the update; the satisfaction question goes to the one who reported, once
    assert (first.sent + first.delivered, second.sent + second.delivered) == (3, 0)
    updates = [m for m in channel.output.messages if "Lampadaire remplacé" in m["text"]]
    questions = [m for m in channel.output.messages if "convient" in m["text"]]
    assert sorted(m["recipient_id"] for m in updates) == sorted([CITIZEN, "777"])
    assert [m["recipient_id"] for m in questions] == [CITIZEN]
