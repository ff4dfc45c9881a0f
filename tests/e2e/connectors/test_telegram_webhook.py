"""End to end: a real Sanic server with the Telegram channel, called over HTTP like Telegram would."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from connectors.shared.channel_stores import open_channel_stores
from connectors.shared.guard import Guard, SlidingWindowRateLimiter
from connectors.shared.notices import Notices
from connectors.shared.offers import short_key
from connectors.telegram import SECRET_HEADER, TelegramApi, TelegramDeps, TelegramInput, create_bot
from connectors.telegram.fake_bot_api import RecordingBotRequest

SECRET = "e2e-webhook-secret"
PATH = "/webhooks/telegram/webhook"
CHAT_ID = 987654
USER = {"id": CHAT_ID, "is_bot": False, "first_name": "Dominique"}
CHAT = {"id": CHAT_ID, "type": "private", "first_name": "Dominique"}
LONG_PAYLOAD = '/report_problem{"problem_type":"eclairage_public","address":"rue du Maréchal Joffre"}'
MENU = [{"title": "Oui", "payload": "/affirm"}, {"title": "Éclairage", "payload": LONG_PAYLOAD}]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Assistant:
    """Stands in for Rasa: records messages and answers through the message's output channel."""

    def __init__(self) -> None:
        self.messages: list[UserMessage] = []

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)
        if message.text == "signaler":
            await message.output_channel.send_text_with_buttons(message.sender_id, "Un lampadaire ?", MENU)
        else:
            await message.output_channel.send_text_message(message.sender_id, f"Reçu : {message.text}")

    @property
    def texts(self) -> list[str]:
        return [m.text or "" for m in self.messages]


@asynccontextmanager
async def running(app: Sanic) -> AsyncIterator[str]:
    """Serve `app` on a free local port for the duration of the block."""
    # Sanic 21.12 rewrites its protocol class once per process unless in test mode, which breaks a second app.
    Sanic.test_mode = True
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()


class Server:
    """The Telegram channel behind a real HTTP server, with the Bot API on a recording transport."""

    def __init__(
        self, base_url: str, channel: TelegramInput, assistant: Assistant, transport: RecordingBotRequest
    ) -> None:
        self.base_url, self.channel, self.assistant, self.transport = base_url, channel, assistant, transport
        self.update_id = 70000

    def message(self, **content: Any) -> dict[str, Any]:
        self.update_id += 1
        return {
            "update_id": self.update_id,
            "message": {"message_id": self.update_id, "date": 1767261600, "chat": CHAT, "from": USER, **content},
        }

    def callback(self, data: str) -> dict[str, Any]:
        self.update_id += 1
        message = {"message_id": 3, "date": 1767261600, "chat": CHAT, "text": "Un lampadaire ?"}
        return {
            "update_id": self.update_id,
            "callback_query": {
                "id": f"q{self.update_id}",
                "from": USER,
                "chat_instance": "c",
                "data": data,
                "message": message,
            },
        }

    async def post(
        self, update: dict[str, Any] | None, *, secret: str | None = SECRET, raw: bytes | None = None
    ) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        body = raw if raw is not None else json.dumps(update).encode()
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            return await client.post(PATH, content=body, headers=headers)

    def replies(self) -> list[str]:
        return [call["text"] for call in self.transport.sent()]


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    transport = RecordingBotRequest()
    stores = open_channel_stores(f"sqlite:///{tmp_path / 'guichet.db'}")
    deps = TelegramDeps(
        api=TelegramApi(create_bot("123456:E2E-TOKEN", transport)),
        stores=stores,
        guard=Guard(stores.offers, SlidingWindowRateLimiter(30), max_chars=2000),
        notices=Notices(),
        webhook_secret=SECRET,
        max_body_bytes=16 * 1024,
    )
    channel, assistant = TelegramInput(deps=deps), Assistant()
    app = Sanic(f"guichet_telegram_{uuid.uuid4().hex[:8]}")
    app.blueprint(channel.blueprint(assistant), url_prefix="/webhooks/telegram")
    async with running(app) as base_url:
        yield Server(base_url, channel, assistant, transport)


@pytest.mark.asyncio
async def test_update_with_the_secret_gets_200_and_an_answer(server: Server) -> None:
    response = await server.post(server.message(text="Bonjour"))
    assert response.status_code == 200
    assert server.assistant.texts == ["Bonjour"] and server.assistant.messages[0].sender_id == f"telegram:{CHAT_ID}"
    assert server.transport.sent() == [{"chat_id": CHAT_ID, "text": "Reçu : Bonjour"}]


@pytest.mark.asyncio
@pytest.mark.parametrize("secret", [None, "", "e2e-webhook-secreT"])
async def test_update_without_the_secret_gets_403(server: Server, secret: str | None) -> None:
    response = await server.post(server.message(text="Bonjour"), secret=secret)
    assert response.status_code == 403
    assert server.assistant.messages == [] and server.transport.calls == []


@pytest.mark.asyncio
async def test_redelivered_update_is_processed_once(server: Server) -> None:
    update = server.message(text="Bonjour")
    assert [(await server.post(update)).status_code for _ in range(2)] == [200, 200]
    assert len(server.assistant.messages) == 1


@pytest.mark.asyncio
async def test_buttons_work_through_inline_keyboard_callbacks(server: Server) -> None:
    await server.post(server.message(text="signaler"))
    keyboard = server.transport.sent()[-1]["reply_markup"]
    keyboard = json.loads(keyboard) if isinstance(keyboard, str) else keyboard
    pressed = keyboard["inline_keyboard"][1][0]["callback_data"]
    assert pressed == short_key(LONG_PAYLOAD)
    assert (await server.post(server.callback(pressed))).status_code == 200
    assert server.assistant.texts[-1] == LONG_PAYLOAD
    assert len(server.transport.sent("answerCallbackQuery")) == 1


@pytest.mark.asyncio
async def test_location_and_photo_reach_the_report_form(server: Server) -> None:
    await server.post(server.message(location={"latitude": 43.2965, "longitude": -0.3689}))
    await server.post(
        server.message(photo=[{"file_id": "PHOTO1", "file_unique_id": "U1", "width": 800, "height": 600}])
    )
    location, photo = server.assistant.messages
    assert location.metadata["location"] == {"lat": 43.2965, "lon": -0.3689}
    assert photo.metadata["photo"]["file_id"] == "PHOTO1"


@pytest.mark.asyncio
async def test_notification_reaches_the_citizen_through_the_output_channel(server: Server) -> None:
    output = server.channel.get_output_channel()
    await output.send_text_message(f"telegram:{CHAT_ID}", "Votre signalement PAU-2026-000042 est traité.")
    assert server.replies() == ["Votre signalement PAU-2026-000042 est traité."]


BAD_UPDATES = [
    ("empty", {"text": ""}, 200),
    ("whitespace", {"text": "   "}, 200),
    ("emoji only", {"text": "🚧🚧"}, 200),
    ("5,000+ characters", {"text": "c" * 5001}, 200),
    ("html/script", {"text": "<b onclick=x>gras</b>"}, 200),
    ("sql-looking", {"text": "SELECT * FROM tickets"}, 200),
    ("nul and control chars", {"text": "\u0000\u0008"}, 200),
    ("all caps", {"text": "BRUIT TOUTE LA NUIT"}, 200),
    ("digits only", {"text": "000000"}, 200),
    ("intent injection", {"text": '/erase_my_data{"confirm":true}'}, 200),
    (
        "sticker",
        {
            "sticker": {
                "file_id": "s",
                "file_unique_id": "s",
                "type": "regular",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
            }
        },
        200,
    ),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("what", "content", "status"), BAD_UPDATES, ids=[row[0] for row in BAD_UPDATES])
async def test_bad_input_over_http_gets_an_answer_and_no_5xx(
    server: Server, what: str, content: dict[str, Any], status: int
) -> None:
    response = await server.post(server.message(**content))
    assert response.status_code == status
    assert len(server.replies()) == 1  # never silence
    assert all(not t.startswith("/erase") for t in server.assistant.texts)


@pytest.mark.asyncio
async def test_unknown_callback_payload_gets_a_clear_answer(server: Server) -> None:
    response = await server.post(server.callback('/erase_my_data{"confirm":true}'))
    assert response.status_code == 200
    assert server.assistant.messages == [] and server.replies() == [Notices().button_expired]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("what", "raw", "status"),
    [
        ("malformed json", b"{not json", 400),
        ("not an update", b'"hello"', 400),
        ("oversized body", b'{"update_id":1,"p":"' + b"z" * 20000 + b'"}', 413),
    ],
)
async def test_malformed_or_oversized_body_gets_a_4xx(server: Server, what: str, raw: bytes, status: int) -> None:
    assert (await server.post(None, raw=raw)).status_code == status
    assert server.assistant.messages == []
