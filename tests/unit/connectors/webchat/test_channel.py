"""The web chat channel with a fake socket.io server: sessions, screening, photos handed on, output, settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rasa.core.channels.channel import UserMessage

from connectors.shared.guard import Guard, SlidingWindowRateLimiter
from connectors.shared.notices import Notices
from connectors.shared.offers import MemoryOfferStore
from connectors.webchat.channel import WebChatInput, parse_origins
from connectors.webchat.output import WebChatOutput
from tests.photos import image_bytes

PNG = image_bytes("PNG")


class FakeSocketServer:
    """Records what the channel asks of python-socketio's AsyncServer."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[..., Awaitable[Any]]] = {}
        self.emitted: list[tuple[str, Any, str | None]] = []
        self.rooms: dict[str, set[str]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}

    def on(self, event: str, namespace: str | None = None) -> Callable[[Callable[..., Awaitable[Any]]], Any]:
        def register(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            self.handlers[event] = handler
            return handler

        return register

    async def emit(
        self, event: str, data: Any = None, room: str | None = None, to: str | None = None, **_: Any
    ) -> None:
        self.emitted.append((event, data, room or to))

    async def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        self.rooms.setdefault(room, set()).add(sid)

    async def save_session(self, sid: str, session: dict[str, Any], namespace: str | None = None) -> None:
        self.sessions[sid] = session

    async def get_session(self, sid: str, namespace: str | None = None) -> dict[str, Any]:
        return self.sessions.setdefault(sid, {})


class Assistant:
    """Stands in for Rasa's agent: records the messages it is handed."""

    def __init__(self, fails: bool = False) -> None:
        self.messages: list[UserMessage] = []
        self.fails = fails

    async def __call__(self, message: UserMessage) -> None:
        if self.fails:
            raise RuntimeError("action server down")
        self.messages.append(message)


def wired_channel(
    tmp_path: Path, assistant: Assistant, *, max_chars: int = 50, limit: int = 100, persistence: bool = True
) -> tuple[WebChatInput, FakeSocketServer]:
    channel = WebChatInput(
        session_persistence=persistence,
        guard=Guard(MemoryOfferStore(), SlidingWindowRateLimiter(limit), max_chars),
        notices=Notices(),
        upload_dir=tmp_path,
        allowed_origins=["http://127.0.0.1:8000"],
    )
    sio = FakeSocketServer()
    channel._add_socket_handlers(sio, assistant)  # type: ignore[arg-type]
    return channel, sio


def texts_sent(sio: FakeSocketServer) -> list[str]:
    return [data["text"] for event, data, _ in sio.emitted if event == "bot_uttered"]


@pytest.mark.parametrize(
    ("setting", "origins"),
    [
        ("http://127.0.0.1:8000,http://localhost:8000", ["http://127.0.0.1:8000", "http://localhost:8000"]),
        (" https://www.pau.fr/ , ", ["https://www.pau.fr"]),
        ("", []),
        (None, []),
        (["https://a.example", ""], ["https://a.example"]),
    ],
)
def test_allowed_origins_are_read_from_a_comma_separated_setting(setting: Any, origins: list[str]) -> None:
    assert parse_origins(setting) == origins


async def test_session_request_joins_the_session_room(tmp_path: Path) -> None:
    """Rasa 3.6 forgot to await enter_room: the socket never joined its room and replies went nowhere."""
    _, sio = wired_channel(tmp_path, Assistant())

    await sio.handlers["session_request"]("sid-1", {"session_id": None})

    (event, session_id, to) = sio.emitted[0]
    assert (event, to) == ("session_confirm", "sid-1")
    assert sio.rooms == {f"webchat:{session_id}": {"sid-1"}}


@pytest.mark.parametrize(
    ("requested", "kept"),
    [("a" * 32, True), ("1f0c-4e2b-9c1d-aaaa-bbbb", True), ("1", False), ("../../etc", False), (42, False)],
)
async def test_citizen_may_resume_a_session_only_with_a_well_formed_id(
    tmp_path: Path, requested: Any, kept: bool
) -> None:
    _, sio = wired_channel(tmp_path, Assistant())

    await sio.handlers["session_request"]("sid-1", {"session_id": requested})

    assert (sio.emitted[0][1] == requested) is kept


async def test_a_message_before_the_session_request_and_the_request_share_one_session(tmp_path: Path) -> None:
    assistant = Assistant()
    _, sio = wired_channel(tmp_path, assistant)

    await sio.handlers["user_uttered"]("sid-1", {"message": "Bonjour", "session_id": None})
    await sio.handlers["session_request"]("sid-1", {"session_id": None})
    await sio.handlers["user_uttered"]("sid-1", {"message": "Encore", "session_id": None})

    confirmed = {data for event, data, _ in sio.emitted if event == "session_confirm"}
    assert len(confirmed) == 1
    assert {m.sender_id for m in assistant.messages} == {f"webchat:{confirmed.pop()}"}


async def test_without_session_persistence_the_socket_is_the_sender(tmp_path: Path) -> None:
    assistant = Assistant()
    _, sio = wired_channel(tmp_path, assistant, persistence=False)

    await sio.handlers["session_request"]("sid-1", {})
    await sio.handlers["user_uttered"]("sid-1", {"message": "Bonjour"})

    assert assistant.messages[0].sender_id == "webchat:sid-1"


@pytest.mark.parametrize(
    ("typed", "assistant_reads"),
    [
        ("Bonjour", "Bonjour"),
        ("  horaires piscine  ", "horaires piscine"),
        ("/affirm", "/affirm"),
        ("/request_human", "request_human"),
        ('/inform{"service": "mairie"}', 'inform{"service": "mairie"}'),
    ],
)
async def test_only_offered_payloads_reach_the_assistant_as_commands(
    tmp_path: Path, typed: str, assistant_reads: str
) -> None:
    assistant = Assistant()
    channel, sio = wired_channel(tmp_path, assistant)
    await sio.handlers["session_request"]("sid-1", {"session_id": "s" * 32})
    output = WebChatOutput(sio, "bot_uttered", channel.guard.offers)  # type: ignore[arg-type]
    await output.send_text_with_buttons(
        "webchat:" + "s" * 32, "Confirmez-vous ?", [{"title": "Oui", "payload": "/affirm"}]
    )

    await sio.handlers["user_uttered"]("sid-1", {"message": typed, "session_id": "s" * 32})

    assert [m.text for m in assistant.messages] == [assistant_reads]
    assert assistant.messages[0].input_channel == "webchat"


@pytest.mark.parametrize(
    ("data", "notice"),
    [
        ({"message": "x" * 51}, Notices().render("too_long", max_chars=50)),
        ({"message": ""}, Notices().empty),
        ({"message": " \x00\x07 "}, Notices().empty),
        ({"message": None}, Notices().empty),
        ({"message": ["not", "text"]}, Notices().empty),
    ],
)
async def test_bad_input_gets_a_polite_answer_and_never_reaches_the_assistant(
    tmp_path: Path, data: Any, notice: str
) -> None:
    assistant = Assistant()
    _, sio = wired_channel(tmp_path, assistant)
    await sio.handlers["session_request"]("sid-1", {})

    await sio.handlers["user_uttered"]("sid-1", data)

    assert texts_sent(sio) == [notice]
    assert assistant.messages == []


async def test_a_bare_string_event_is_taken_as_the_message_text(tmp_path: Path) -> None:
    assistant = Assistant()
    _, sio = wired_channel(tmp_path, assistant)
    await sio.handlers["session_request"]("sid-1", {})

    await sio.handlers["user_uttered"]("sid-1", "Bonjour")

    assert [m.text for m in assistant.messages] == ["Bonjour"]


async def test_a_citizen_sending_too_fast_is_asked_to_wait(tmp_path: Path) -> None:
    assistant = Assistant()
    _, sio = wired_channel(tmp_path, assistant, limit=2)
    await sio.handlers["session_request"]("sid-1", {})

    for text in ["un", "deux", "trois"]:
        await sio.handlers["user_uttered"]("sid-1", {"message": text})

    assert [m.text for m in assistant.messages] == ["un", "deux"]
    assert texts_sent(sio) == [Notices().rate_limited]


@dataclass
class FakeRequest:
    """What the channel reads of the Sanic request that opens a socket."""

    ip: str
    headers: dict[str, str] = field(default_factory=dict)


async def connect(sio: FakeSocketServer, sid: str, peer: str, forwarded_for: str | None = None) -> None:
    """Open a socket as engine.io's Sanic driver does (its REMOTE_ADDR is always 127.0.0.1, the request is real)."""
    headers = {"x-forwarded-for": forwarded_for} if forwarded_for else {}
    environ = {"REMOTE_ADDR": "127.0.0.1", "sanic.request": FakeRequest(peer, headers)}
    assert await sio.handlers["connect"](sid, environ) is True


async def test_rotating_session_ids_does_not_escape_the_rate_limit(tmp_path: Path) -> None:
    assistant = Assistant()
    _, sio = wired_channel(tmp_path, assistant, limit=3)

    for index in range(6):  # a new socket and a new session for every message, from one address
        sid = f"sid-{index}"
        await connect(sio, sid, "203.0.113.7")
        await sio.handlers["session_request"](sid, {"session_id": f"{index:032x}"})
        await sio.handlers["user_uttered"](sid, {"message": f"message {index}"})
    await connect(sio, "sid-other", "198.51.100.20")
    await sio.handlers["session_request"]("sid-other", {})
    await sio.handlers["user_uttered"]("sid-other", {"message": "Bonjour"})

    assert [m.text for m in assistant.messages] == ["message 0", "message 1", "message 2", "Bonjour"]
    assert texts_sent(sio) == [Notices().rate_limited] * 3


async def test_behind_proxies_the_limit_counts_the_address_they_forwarded(tmp_path: Path) -> None:
    assistant = Assistant()
    channel, sio = wired_channel(tmp_path, assistant, limit=1)
    channel.proxies_count = 1

    # Two citizens behind the town's proxy (peer 127.0.0.1); a client-written first hop changes nothing.
    await connect(sio, "sid-a", "127.0.0.1", "10.9.9.9, 203.0.113.7")
    await connect(sio, "sid-b", "127.0.0.1", "203.0.113.8")
    await connect(sio, "sid-c", "127.0.0.1", "10.8.8.8, 203.0.113.7")
    for sid in ["sid-a", "sid-b", "sid-c"]:
        await sio.handlers["user_uttered"](sid, {"message": sid})

    assert [m.text for m in assistant.messages] == ["sid-a", "sid-b"]


async def test_without_proxies_a_forwarded_header_is_not_trusted(tmp_path: Path) -> None:
    assistant = Assistant()
    _, sio = wired_channel(tmp_path, assistant, limit=1)

    await connect(sio, "sid-a", "203.0.113.7", "198.51.100.1")
    await connect(sio, "sid-b", "203.0.113.7", "198.51.100.2")  # a new made-up address each time
    for sid in ["sid-a", "sid-b"]:
        await sio.handlers["user_uttered"](sid, {"message": sid})

    assert [m.text for m in assistant.messages] == ["sid-a"]


async def test_when_the_assistant_fails_the_citizen_gets_an_honest_answer(tmp_path: Path) -> None:
    _, sio = wired_channel(tmp_path, Assistant(fails=True))
    await sio.handlers["session_request"]("sid-1", {})

    await sio.handlers["user_uttered"]("sid-1", {"message": "Bonjour"})

    assert texts_sent(sio) == [Notices().unavailable]


async def test_a_photo_alone_is_passed_on_with_its_url(tmp_path: Path) -> None:
    assistant = Assistant()
    channel, sio = wired_channel(tmp_path, assistant)
    name = await channel.photos.save(PNG)
    url = f"http://127.0.0.1:5005/webhooks/webchat/upload/{name}"
    await sio.handlers["session_request"]("sid-1", {})

    await sio.handlers["user_uttered"]("sid-1", {"message": "", "metadata": {"photo_url": url}})

    assert assistant.messages[0].text == Notices().photo_text
    assert assistant.messages[0].metadata == {"photo_url": url}


@pytest.mark.parametrize(
    "metadata",
    [
        {"photo_url": "https://evil.example/upload/" + "0" * 32 + ".png"},
        {"photo_url": "http://127.0.0.1:5005/webhooks/webchat/upload/../../etc/passwd"},
        {"photo_url": 12},
        {"customData": {"language": "fr"}},
        "{not json",
    ],
)
async def test_metadata_other_than_our_own_photo_urls_is_dropped(tmp_path: Path, metadata: Any) -> None:
    assistant = Assistant()
    _, sio = wired_channel(tmp_path, assistant)
    await sio.handlers["session_request"]("sid-1", {})

    await sio.handlers["user_uttered"]("sid-1", {"message": "Regardez", "metadata": metadata})

    assert assistant.messages[0].metadata == {}


async def test_output_sends_rasa_socketio_messages_to_the_session_room() -> None:
    sio = FakeSocketServer()
    offers = MemoryOfferStore()
    output = WebChatOutput(sio, "bot_uttered", offers)  # type: ignore[arg-type]

    await output.send_text_message("webchat:abc", "Bonjour.\n\nQue puis-je faire ?")
    await output.send_image_url("webchat:abc", "https://www.pau.fr/plan.png")
    await output.send_text_with_buttons("webchat:abc", "Oui ou non ?", [{"title": "Oui", "payload": "/affirm"}])
    await output.send_custom_json("webchat:abc", {"text": "perso", "data": 1})

    assert sio.emitted == [
        ("bot_uttered", {"text": "Bonjour."}, "webchat:abc"),
        ("bot_uttered", {"text": "Que puis-je faire ?"}, "webchat:abc"),
        (
            "bot_uttered",
            {"attachment": {"type": "image", "payload": {"src": "https://www.pau.fr/plan.png"}}},
            "webchat:abc",
        ),
        (
            "bot_uttered",
            {"text": "Oui ou non ?", "quick_replies": [{"content_type": "text", "title": "Oui", "payload": "/affirm"}]},
            "webchat:abc",
        ),
        ("bot_uttered", {"text": "perso", "data": 1}, "webchat:abc"),
    ]
    offer = await offers.recall("webchat:abc")
    assert offer is not None and offer.payloads == ["/affirm"]


def test_no_output_channel_before_the_server_starts(tmp_path: Path) -> None:
    with pytest.warns(UserWarning):
        assert WebChatInput(upload_dir=tmp_path).get_output_channel() is None


def test_channel_is_built_from_credentials_and_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.settings import get_settings

    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'guichet.db'}")
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://www.pau.fr, https://pau.fr")
    monkeypatch.setenv("MAX_MESSAGE_CHARS", "500")
    monkeypatch.setenv("PROXIES_COUNT", "2")
    monkeypatch.setenv("WEBCHAT_INIT_PAYLOAD", "/ouvrir")
    get_settings.cache_clear()
    try:
        channel = WebChatInput.from_credentials({"session_persistence": True})
    finally:
        get_settings.cache_clear()

    assert isinstance(channel, WebChatInput)
    assert channel.name() == "webchat" and channel.socketio_path == "/socket.io"
    assert channel.allowed_origins == ["https://www.pau.fr", "https://pau.fr"]
    assert channel.session_persistence is True
    assert channel.guard.max_chars == 500
    assert channel.photos.directory == tmp_path / "media"  # MEDIA_DIR unset: var/media
    assert channel.proxies_count == 2


async def test_the_widgets_init_payload_from_the_settings_greets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.settings import get_settings

    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'guichet.db'}")
    get_settings.cache_clear()
    try:
        default = WebChatInput.from_credentials({})
        monkeypatch.setenv("WEBCHAT_INIT_PAYLOAD", "/ouvrir")
        get_settings.cache_clear()
        configured = WebChatInput.from_credentials({})
    finally:
        get_settings.cache_clear()

    assert isinstance(default, WebChatInput) and isinstance(configured, WebChatInput)
    assert (await default.guard.screen("webchat:a", "/get_started")).text == "/greet"
    assert (await configured.guard.screen("webchat:b", "/ouvrir")).text == "/greet"
    assert (await configured.guard.screen("webchat:b", "/get_started")).text == "get_started"
