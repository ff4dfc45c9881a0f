"""The web chat channel end to end: a real python-socketio client against the channel on a real Sanic server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.db import create_engine_for
from bot.town.tickets import OutboxStore, TicketDraft, TicketStore, create_schema
from bot.town.tickets.held import HeldMessages
from connectors.shared.guard import Guard, SlidingWindowRateLimiter
from connectors.shared.notices import Notices
from connectors.shared.offers import MemoryOfferStore
from connectors.webchat import WebChatInput
from tests.conftest import free_port
from tests.photos import image_bytes

PAGE_ORIGIN = "http://127.0.0.1:8000"
BUTTONS = [{"title": "Oui", "payload": "/affirm"}, {"title": "Non", "payload": "/deny"}]
PNG = image_bytes("PNG")


@pytest.fixture(autouse=True)
def several_sanic_apps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sanic 21.12 can start a second app in one process only in test mode."""
    monkeypatch.setattr(Sanic, "test_mode", True)


@dataclass
class EchoServer:
    """A Sanic app with the web chat blueprint whose assistant echoes, offers buttons and shows images."""

    channel: WebChatInput
    url: str
    received: list[UserMessage] = field(default_factory=list)


async def echo(message: UserMessage, received: list[UserMessage]) -> None:
    """The stand-in assistant: echo with buttons, acknowledge payloads and photos, be slow or send a link on demand."""
    received.append(message)
    out = message.output_channel
    photo = (message.metadata or {}).get("photo_url")
    if photo:
        await out.send_image_url(message.sender_id, photo)
        await out.send_text_message(message.sender_id, "Photo bien reçue.")
    elif message.text.startswith("/"):
        await out.send_text_message(message.sender_id, f"Choix reçu : {message.text}")
    elif "lentement" in message.text:
        await asyncio.sleep(1)
        await out.send_text_message(message.sender_id, "Voici, après réflexion.")
    elif "lien" in message.text:
        await out.send_text_message(message.sender_id, "Voir [le site de la ville](https://www.pau.fr/) pour la suite.")
    else:
        await out.send_text_with_buttons(message.sender_id, f"Vous avez écrit : {message.text}", BUTTONS)


@asynccontextmanager
async def echo_server(
    tmp_path: Path,
    *,
    origins: list[str] | None = None,
    redis_url: str | None = None,
    max_chars: int = 200,
    init_payload: str | None = None,
    held: HeldMessages | None = None,
) -> AsyncIterator[EchoServer]:
    """Start the web chat channel on 127.0.0.1 on a free port, in this event loop."""
    guard = Guard(MemoryOfferStore(), SlidingWindowRateLimiter(1000), max_chars, init_payload=init_payload)
    channel = WebChatInput(
        allowed_origins=origins if origins is not None else [PAGE_ORIGIN],
        redis_url=redis_url,
        guard=guard,
        notices=Notices(),
        upload_dir=tmp_path / "uploads",
        held=held,
        held_poll_seconds=0.2,
    )
    received: list[UserMessage] = []
    app = Sanic(f"webchat_e2e_{uuid.uuid4().hex[:8]}", configure_logging=False)
    app.blueprint(channel.blueprint(lambda message: echo(message, received)), url_prefix="/webhooks/webchat")
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    assert server is not None
    await server.startup()
    await server.after_start()  # the channel's listeners (the held-update poller) start as under `rasa run`
    try:
        yield EchoServer(channel, f"http://127.0.0.1:{port}", received)
    finally:
        await server.before_stop()
        assert channel.sio is not None
        await channel.sio.shutdown()
        server.close()
        await server.wait_closed()
        for task in asyncio.all_tasks():  # engine.io leaves its ping timers sleeping after shutdown
            if task.get_coro().__qualname__ == "AsyncSocket._send_ping":
                task.cancel()


class Citizen:
    """A python-socketio client that records every event the server sends."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.client.on("session_confirm", lambda data: self.events.put_nowait(("session_confirm", data)))
        self.client.on("bot_uttered", lambda data: self.events.put_nowait(("bot_uttered", data)))

    async def connect(self, url: str, origin: str = PAGE_ORIGIN) -> None:
        # python-engineio 4.15's WebSocket client needs aiohttp >= 3.10 (rasa pins 3.9): long-polling here;
        # the browser test covers WebSocket.
        await self.client.connect(url, headers={"Origin": origin}, transports=["polling"])

    async def start_session(self, session_id: str | None = None) -> str:
        await self.client.emit("session_request", {"session_id": session_id})
        kind, data = await self.next_event()
        assert kind == "session_confirm"
        return data

    async def say(self, text: str, session_id: str, metadata: dict[str, Any] | None = None) -> None:
        await self.client.emit("user_uttered", {"message": text, "session_id": session_id, "metadata": metadata or {}})

    async def next_event(self) -> tuple[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout=10)

    async def next_bot_message(self) -> dict[str, Any]:
        kind, data = await self.next_event()
        assert kind == "bot_uttered"
        return data

    async def hang_up(self) -> None:
        # Abort: a polite polling disconnect waits for the server's 30 s long-poll to end.
        await self.client.eio.disconnect(abort=True)


@asynccontextmanager
async def citizen_on(url: str) -> AsyncIterator[Citizen]:
    citizen = Citizen()
    await citizen.connect(url)
    try:
        yield citizen
    finally:
        await citizen.hang_up()


async def test_citizen_gets_an_answer_with_session_persistence(tmp_path: Path) -> None:
    async with echo_server(tmp_path) as server, citizen_on(server.url) as citizen:
        session_id = await citizen.start_session()
        await citizen.say("Bonjour", session_id)

        answer = await citizen.next_bot_message()

    assert answer["text"] == "Vous avez écrit : Bonjour"
    assert server.received[0].sender_id == f"webchat:{session_id}"
    assert server.received[0].input_channel == "webchat"


async def test_buttons_arrive_as_quick_replies_and_their_payload_is_honoured(tmp_path: Path) -> None:
    async with echo_server(tmp_path) as server, citizen_on(server.url) as citizen:
        session_id = await citizen.start_session()
        await citizen.say("Bonjour", session_id)
        offer = await citizen.next_bot_message()
        await citizen.say("/affirm", session_id)
        answer = await citizen.next_bot_message()

    assert offer["quick_replies"] == [
        {"content_type": "text", "title": "Oui", "payload": "/affirm"},
        {"content_type": "text", "title": "Non", "payload": "/deny"},
    ]
    assert answer["text"] == "Choix reçu : /affirm"


@pytest.mark.parametrize(
    ("typed", "assistant_reads"),
    [
        ("/request_human", "request_human"),
        ('/report_problem{"problem_type": "voirie"}', 'report_problem{"problem_type": "voirie"}'),
    ],
)
async def test_a_slash_command_never_offered_is_plain_text(tmp_path: Path, typed: str, assistant_reads: str) -> None:
    async with echo_server(tmp_path) as server, citizen_on(server.url) as citizen:
        session_id = await citizen.start_session()
        await citizen.say(typed, session_id)
        await citizen.next_bot_message()

    assert server.received[0].text == assistant_reads


@pytest.mark.parametrize(
    ("typed", "notice"),
    [("x" * 201, Notices().render("too_long", max_chars=200)), ("   ", Notices().empty)],
)
async def test_too_long_or_empty_message_gets_a_polite_answer(tmp_path: Path, typed: str, notice: str) -> None:
    async with echo_server(tmp_path, max_chars=200) as server, citizen_on(server.url) as citizen:
        session_id = await citizen.start_session()
        await citizen.say(typed, session_id)
        answer = await citizen.next_bot_message()

    assert answer["text"] == notice
    assert server.received == []


async def test_reconnecting_with_the_session_id_keeps_the_conversation(tmp_path: Path) -> None:
    async with echo_server(tmp_path) as server:
        async with citizen_on(server.url) as first:
            session_id = await first.start_session()
            await first.say("Bonjour", session_id)
            await first.next_bot_message()
        async with citizen_on(server.url) as again:
            confirmed = await again.start_session(session_id)
            await again.say("Toujours là ?", session_id)
            answer = await again.next_bot_message()

    assert confirmed == session_id
    assert answer["text"] == "Vous avez écrit : Toujours là ?"
    assert {m.sender_id for m in server.received} == {f"webchat:{session_id}"}


async def test_a_message_sent_before_the_session_request_is_not_lost(tmp_path: Path) -> None:
    async with echo_server(tmp_path) as server, citizen_on(server.url) as citizen:
        session_id = uuid.uuid4().hex
        await citizen.say("Bonjour", session_id)
        answer = await citizen.next_bot_message()

    assert answer["text"] == "Vous avez écrit : Bonjour"
    assert server.received[0].sender_id == f"webchat:{session_id}"


async def test_a_proactive_message_reaches_an_open_session(tmp_path: Path) -> None:
    async with echo_server(tmp_path) as server, citizen_on(server.url) as citizen:
        session_id = await citizen.start_session()
        output = server.channel.get_output_channel()
        assert output is not None
        await output.send_text_message(f"webchat:{session_id}", "Votre signalement PAU-2026-000123 est traité.")

        answer = await citizen.next_bot_message()

    assert answer == {"text": "Votre signalement PAU-2026-000123 est traité."}


async def test_a_page_from_a_foreign_origin_cannot_connect(tmp_path: Path) -> None:
    async with echo_server(tmp_path) as server:
        intruder = Citizen()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await intruder.connect(server.url, origin="https://evil.example")


async def test_citizen_sends_a_photo_with_a_report(tmp_path: Path) -> None:
    async with echo_server(tmp_path) as server, citizen_on(server.url) as citizen:
        async with httpx.AsyncClient() as http:
            uploaded = await http.post(
                f"{server.url}/webhooks/webchat/upload",
                files={"photo": ("trou.png", PNG, "image/png")},
                headers={"Origin": PAGE_ORIGIN},
            )
            url = uploaded.json()["url"]
            served = await http.get(url)
        session_id = await citizen.start_session()
        await citizen.say("", session_id, {"photo_url": url})
        image = await citizen.next_bot_message()

    assert uploaded.status_code == 201
    assert uploaded.headers["access-control-allow-origin"] == PAGE_ORIGIN
    assert served.content.startswith(b"\x89PNG") and served.headers["content-type"] == "image/png"
    assert image == {"attachment": {"type": "image", "payload": {"src": url}}}
    assert server.received[0].text == Notices().photo_text
    assert server.received[0].metadata == {"photo_url": url}


async def test_a_photo_url_that_is_not_one_of_our_uploads_is_dropped(tmp_path: Path) -> None:
    async with echo_server(tmp_path) as server, citizen_on(server.url) as citizen:
        session_id = await citizen.start_session()
        await citizen.say("Regardez", session_id, {"photo_url": "https://evil.example/upload/x.png"})
        await citizen.next_bot_message()

    assert server.received[0].metadata == {}


@pytest.mark.parametrize(
    ("content", "origin", "status"),
    [
        (b"%PDF-1.4 not an image", PAGE_ORIGIN, 415),
        (b"\xff\xd8\xff" + b"\x00" * (5 * 1024 * 1024), PAGE_ORIGIN, 413),
        (PNG, "https://evil.example", 403),
        (PNG, None, 403),  # not a browser page: a script, which the widget's upload is not for
    ],
)
async def test_upload_refuses_non_images_big_files_and_foreign_pages(
    tmp_path: Path, content: bytes, origin: str | None, status: int
) -> None:
    async with echo_server(tmp_path) as server, httpx.AsyncClient() as http:
        answer = await http.post(
            f"{server.url}/webhooks/webchat/upload",
            files={"photo": ("photo.jpg", content, "image/jpeg")},
            headers={"Origin": origin} if origin else {},
        )

    assert answer.status_code == status
    assert not list((tmp_path / "uploads").glob("*"))


async def test_uploads_are_rate_limited_per_client_address(tmp_path: Path) -> None:
    async with echo_server(tmp_path) as server, httpx.AsyncClient() as http:
        server.channel.upload_limiter = SlidingWindowRateLimiter(2, window_seconds=3600)
        statuses = [
            (
                await http.post(
                    f"{server.url}/webhooks/webchat/upload",
                    files={"photo": ("photo.pdf", b"%PDF-1.4", "application/pdf")},
                    headers={"Origin": PAGE_ORIGIN},
                )
            ).status_code
            for _ in range(3)
        ]

    assert statuses == [415, 415, 429]  # every attempt counts, refused or not: each one costs the server


async def test_the_widgets_init_payload_is_handed_on_as_a_greeting(tmp_path: Path) -> None:
    async with echo_server(tmp_path, init_payload="/get_started") as server, citizen_on(server.url) as citizen:
        session_id = await citizen.start_session()
        # What rasa-webchat 1.x emits when it opens (its trySendInitPayload).
        await citizen.client.emit(
            "user_uttered", {"message": "/get_started", "customData": {"language": "fr"}, "session_id": session_id}
        )
        answer = await citizen.next_bot_message()

    assert answer == {"text": "Choix reçu : /greet"}


@pytest.mark.redis
async def test_a_proactive_message_from_another_process_reaches_the_citizen_through_redis(tmp_path: Path) -> None:
    redis_url = "redis://127.0.0.1:6379/0"
    async with echo_server(tmp_path, redis_url=redis_url) as first, echo_server(tmp_path, redis_url=redis_url) as other:
        async with citizen_on(first.url) as citizen:
            session_id = await citizen.start_session()
            await asyncio.sleep(0.5)  # let both servers subscribe to the Redis channel
            output = other.channel.get_output_channel()
            assert output is not None
            await output.send_text_message(f"webchat:{session_id}", "Un agent vous répond.")

            answer = await citizen.next_bot_message()

    assert answer == {"text": "Un agent vous répond."}


UPDATE = "Ville de Pau : votre signalement {ref} est pris en charge."


def update_handed_over(tmp_path: Path, session_id: str) -> tuple[OutboxStore, str]:
    """A ticket of this web chat session whose status changed, its update rendered and held (as the outbox does)."""
    from datetime import timedelta

    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    create_schema(engine)
    tickets = TicketStore(engine)
    ref = tickets.create_ticket(
        TicketDraft("voirie", "Trou", address="Rue Tran", channel="webchat", sender_id=f"webchat:{session_id}")
    ).ref
    tickets.set_status(ref, "pris_en_charge", None, "agent:marie")  # not closed: no satisfaction question yet
    outbox = OutboxStore(engine)
    [job], _ = outbox.claim_due(tickets.clock(), limit=5, lease=timedelta(minutes=5))
    outbox.mark_sent(job.id, tickets.clock(), held=[{"text": UPDATE.format(ref=ref)}])
    return outbox, ref


async def test_an_update_waits_for_a_closed_tab_and_arrives_when_the_session_comes_back(tmp_path: Path) -> None:
    session_id = uuid.uuid4().hex
    outbox, ref = update_handed_over(tmp_path, session_id)
    held = HeldMessages(outbox.engine)
    async with echo_server(tmp_path, held=held) as server:
        await asyncio.sleep(0.5)  # a poll or two: nobody of this session is connected
        assert [job.status for job in outbox.jobs()] == ["sent"]

        async with citizen_on(server.url) as citizen:
            assert await citizen.start_session(session_id) == session_id
            update = await citizen.next_bot_message()
            assert [job.status for job in outbox.jobs()] == ["delivered"]

        async with citizen_on(server.url) as again:  # shown once, not at every visit
            await again.start_session(session_id)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(again.events.get(), timeout=1)

    assert update["text"] == UPDATE.format(ref=ref)


async def test_an_update_reaches_a_tab_that_stayed_open(tmp_path: Path) -> None:
    session_id = uuid.uuid4().hex
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    create_schema(engine)
    async with echo_server(tmp_path, held=HeldMessages(engine)) as server:
        async with citizen_on(server.url) as citizen:
            await citizen.start_session(session_id)
            outbox, ref = update_handed_over(tmp_path, session_id)  # the status changes while the tab is open
            update = await citizen.next_bot_message()
            assert update["text"] == UPDATE.format(ref=ref)
            await asyncio.sleep(0.1)
            assert [job.status for job in outbox.jobs()] == ["delivered"]


async def test_another_sessions_update_is_not_shown(tmp_path: Path) -> None:
    outbox, _ = update_handed_over(tmp_path, uuid.uuid4().hex)
    async with echo_server(tmp_path, held=HeldMessages(outbox.engine)) as server, citizen_on(server.url) as stranger:
        await stranger.start_session(uuid.uuid4().hex)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(stranger.events.get(), timeout=1)
    assert [job.status for job in outbox.jobs()] == ["sent"]
