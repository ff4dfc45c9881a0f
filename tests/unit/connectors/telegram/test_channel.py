"""The Telegram webhook accepts only calls with the secret token, once per update, and answers natively."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from rasa.core.channels.channel import UserMessage

from connectors.shared.channel_stores import memory_channel_stores
from connectors.shared.guard import Guard, SlidingWindowRateLimiter
from connectors.shared.notices import Notices
from connectors.shared.offers import short_key
from connectors.telegram.channel import SECRET_HEADER, TelegramDeps, TelegramWebhook, create_bot
from connectors.telegram.fake_bot_api import RecordingBotRequest
from connectors.telegram.output import TelegramApi

SECRET = "webhook-secret_123"
CHAT_ID = 424242
USER = {"id": CHAT_ID, "is_bot": False, "first_name": "Camille"}
CHAT = {"id": CHAT_ID, "type": "private", "first_name": "Camille"}
LONG_PAYLOAD = '/inform{"procedure":"inscription_listes_electorales","service":"etat_civil"}'
MENU = [{"title": "Oui", "payload": "/affirm"}, {"title": "Inscription", "payload": LONG_PAYLOAD}]


class Assistant:
    """Stands in for Rasa: records messages and answers through the message's output channel."""

    def __init__(self, fail: bool = False) -> None:
        self.messages: list[UserMessage] = []
        self.fail = fail

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)
        if self.fail:
            raise RuntimeError("action server down")
        if message.text == "menu":
            await message.output_channel.send_text_with_buttons(message.sender_id, "Votre choix ?", MENU)
        else:
            await message.output_channel.send_text_message(message.sender_id, f"Reçu : {message.text}")

    @property
    def texts(self) -> list[str]:
        return [m.text or "" for m in self.messages]


class Channel:
    """The Telegram webhook on in-memory stores and a recording Bot API transport."""

    def __init__(self, rate_limit: int = 30, secret: str | None = SECRET) -> None:
        self.transport = RecordingBotRequest()
        self.stores = memory_channel_stores()
        self.webhook = TelegramWebhook(
            TelegramDeps(
                api=TelegramApi(create_bot("123456:TEST-TOKEN", self.transport)),
                stores=self.stores,
                guard=Guard(self.stores.offers, SlidingWindowRateLimiter(rate_limit), max_chars=2000),
                notices=Notices(),
                webhook_secret=secret,
                max_body_bytes=64 * 1024,
            )
        )
        self.update_id = 5000

    def message(self, **content: Any) -> dict[str, Any]:
        self.update_id += 1
        return {
            "update_id": self.update_id,
            "message": {"message_id": self.update_id, "date": 1767261600, "chat": CHAT, "from": USER, **content},
        }

    def callback(self, data: str) -> dict[str, Any]:
        self.update_id += 1
        return {
            "update_id": self.update_id,
            "callback_query": {
                "id": f"cbq-{self.update_id}",
                "from": USER,
                "chat_instance": "ci",
                "data": data,
                "message": {"message_id": 1, "date": 1767261600, "chat": CHAT, "text": "Votre choix ?"},
            },
        }

    async def post(
        self, update: dict[str, Any] | None, assistant: Assistant, secret: str | None = SECRET, raw: bytes | None = None
    ) -> int:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        body = raw if raw is not None else json.dumps(update).encode()
        status, _ = await self.webhook.handle(headers, body, assistant)
        return status

    def replies(self) -> list[str]:
        return [call["text"] for call in self.transport.sent()]


@pytest.mark.asyncio
async def test_text_with_the_secret_reaches_the_assistant_and_the_answer_goes_back() -> None:
    channel, assistant = Channel(), Assistant()
    assert await channel.post(channel.message(text="Horaires de la piscine ?"), assistant) == 200
    [message] = assistant.messages
    assert (message.sender_id, message.input_channel, message.text) == (
        "telegram:424242",
        "telegram",
        "Horaires de la piscine ?",
    )
    assert message.metadata == {"channel": "telegram"}
    assert channel.transport.sent() == [{"chat_id": CHAT_ID, "text": "Reçu : Horaires de la piscine ?"}]


@pytest.mark.asyncio
@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x", SECRET.upper()])
async def test_call_without_the_right_secret_is_refused_and_never_reaches_the_assistant(secret: str | None) -> None:
    channel, assistant = Channel(), Assistant()
    assert await channel.post(channel.message(text="Bonjour"), assistant, secret=secret) == 403
    assert assistant.messages == [] and channel.transport.calls == []


@pytest.mark.asyncio
async def test_channel_without_a_configured_secret_refuses_everything() -> None:
    channel, assistant = Channel(secret=None), Assistant()
    assert await channel.post(channel.message(text="Bonjour"), assistant, secret="") == 403


@pytest.mark.asyncio
async def test_repeated_update_is_processed_once() -> None:
    channel, assistant = Channel(), Assistant()
    update = channel.message(text="Bonjour")
    assert [await channel.post(update, assistant) for _ in range(3)] == [200, 200, 200]
    assert len(assistant.messages) == 1 and len(channel.transport.sent()) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize(("command", "intent"), [("/start", "/greet"), ("/aide", "/help")])
async def test_start_and_aide_reach_the_assistant_as_greet_and_help(command: str, intent: str) -> None:
    channel, assistant = Channel(), Assistant()
    await channel.post(
        channel.message(text=command, entities=[{"type": "bot_command", "offset": 0, "length": len(command)}]),
        assistant,
    )
    assert assistant.texts == [intent]


@pytest.mark.asyncio
async def test_pressed_button_is_answered_and_its_payload_honoured() -> None:
    channel, assistant = Channel(), Assistant()
    await channel.post(channel.message(text="menu"), assistant)
    await channel.post(channel.callback("/affirm"), assistant)
    await channel.post(channel.callback(short_key(LONG_PAYLOAD)), assistant)
    assert assistant.texts == ["menu", "/affirm", LONG_PAYLOAD]
    assert [c["callback_query_id"] for c in channel.transport.sent("answerCallbackQuery")] == ["cbq-5002", "cbq-5003"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "data", ['/erase_my_data{"confirm":true}', short_key("/never_offered"), "k:garbage", "", "\x00\x01"]
)
async def test_unknown_button_payload_gets_a_clear_answer(data: str) -> None:
    channel, assistant = Channel(), Assistant()
    assert await channel.post(channel.callback(data), assistant) == 200
    assert assistant.messages == []
    assert channel.replies() == [Notices().button_expired]
    assert len(channel.transport.sent("answerCallbackQuery")) == 1


@pytest.mark.asyncio
async def test_shared_location_reaches_the_report_form_as_metadata() -> None:
    channel, assistant = Channel(), Assistant()
    await channel.post(channel.message(location={"latitude": 43.2951, "longitude": -0.3708}), assistant)
    [message] = assistant.messages
    assert message.text == Notices().location_text
    assert message.metadata == {"channel": "telegram", "location": {"lat": 43.2951, "lon": -0.3708}}


@pytest.mark.asyncio
async def test_photo_reaches_the_assistant_with_its_file_id_and_caption() -> None:
    channel, assistant = Channel(), Assistant()
    photo = [{"file_id": "AgADBAAD", "file_unique_id": "AQAD", "width": 1280, "height": 960}]
    await channel.post(channel.message(photo=photo), assistant)
    await channel.post(channel.message(photo=photo, caption="Lampadaire cassé rue Tran"), assistant)
    assert assistant.texts == [Notices().photo_text, "Lampadaire cassé rue Tran"]
    assert assistant.messages[0].metadata["photo"]["file_id"] == "AgADBAAD"
    assert channel.transport.sent("getFile") == []  # the file URL is fetched only when a report needs it


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "content",
    [
        {
            "sticker": {
                "file_id": "st",
                "file_unique_id": "st",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            }
        },
        {"voice": {"file_id": "vo", "file_unique_id": "vo", "duration": 3}},
    ],
)
async def test_unsupported_content_gets_a_polite_french_answer(content: dict[str, Any]) -> None:
    channel, assistant = Channel(), Assistant()
    assert await channel.post(channel.message(**content), assistant) == 200
    assert assistant.messages == [] and channel.replies() == [Notices().unsupported_content]


@pytest.mark.asyncio
async def test_citizen_over_the_rate_limit_gets_a_polite_answer() -> None:
    channel, assistant = Channel(rate_limit=2), Assistant()
    for text in ("un", "deux", "trois", "quatre", "cinq"):
        await channel.post(channel.message(text=text), assistant)
    assert assistant.texts == ["un", "deux"]
    assert channel.replies() == ["Reçu : un", "Reçu : deux", Notices().rate_limited]  # one warning, not one per message


class BrokenDeliveryLog:
    """A delivery log whose database is down."""

    async def claim(self, channel: str, delivery_id: str) -> bool:
        raise OSError("database unreachable")


@pytest.mark.asyncio
async def test_message_is_handled_even_when_the_delivery_log_is_down() -> None:
    channel, assistant = Channel(), Assistant()
    channel.stores.deliveries = BrokenDeliveryLog()
    assert await channel.post(channel.message(text="Bonjour"), assistant) == 200
    assert assistant.texts == ["Bonjour"]


@pytest.mark.asyncio
async def test_assistant_failure_gets_an_honest_answer_and_a_200() -> None:
    channel, assistant = Channel(), Assistant(fail=True)
    assert await channel.post(channel.message(text="Bonjour"), assistant) == 200
    assert channel.replies() == [Notices().unavailable]


@pytest.mark.asyncio
async def test_telegram_outage_while_answering_is_not_a_server_error() -> None:
    channel, assistant = Channel(), Assistant()
    channel.webhook.deps.api._attempts = 1
    channel.transport.script(
        "sendMessage", 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
    )
    channel.transport.script(
        "sendMessage", 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
    )
    assert await channel.post(channel.message(text="Bonjour"), assistant) == 200


BAD_TEXT = [
    # (what, text, text handed to the assistant or None, notice answered or None)
    ("empty", "", None, Notices().empty),
    ("whitespace", "  \n\t ", None, Notices().empty),
    ("emoji only", "👍👍", "👍👍", None),
    ("5,000+ characters", "a" * 5001, None, Notices().too_long.format(max_chars=2000)),
    ("html/script", "<img src=x onerror=alert(1)>", "<img src=x onerror=alert(1)>", None),
    ("sql-looking", "' OR 1=1; --", "' OR 1=1; --", None),
    ("nul and control chars", "rue\x00 Serviez\x07", "rue Serviez", None),
    ("all caps", "POUBELLES PAS RAMASSÉES", "POUBELLES PAS RAMASSÉES", None),
    ("digits only", "64000", "64000", None),
    ("intent injection", '/inform{"ticket_ref":"PAU-2026-000001"}', 'inform{"ticket_ref":"PAU-2026-000001"}', None),
    ("other language", "Where is the town hall?", "Where is the town hall?", None),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("what", "text", "handed_on", "notice"), BAD_TEXT, ids=[row[0] for row in BAD_TEXT])
async def test_bad_text_gets_a_clear_answer_never_an_error(
    what: str, text: str, handed_on: str | None, notice: str | None
) -> None:
    channel, assistant = Channel(), Assistant()
    assert await channel.post(channel.message(text=text), assistant) == 200
    assert assistant.texts == ([handed_on] if handed_on is not None else [])
    assert len(channel.replies()) == 1  # never silence
    if notice is not None:
        assert channel.replies() == [notice]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("what", "raw", "status"),
    [
        ("malformed json", b'{"update_id": 1, "message": ', 400),
        ("json but not an object", b"[1, 2, 3]", 400),
        ("no update_id", b'{"message": {}}', 400),
        ("not utf-8", b"\xff\xfe\x00", 400),
        ("update python-telegram-bot cannot read", b'{"update_id": 9, "message": {"chat": "nope"}}', 400),
        ("oversized body", b'{"update_id": 1, "x": "' + b"a" * (64 * 1024) + b'"}', 413),
    ],
)
async def test_malformed_or_oversized_body_gets_a_4xx(what: str, raw: bytes, status: int) -> None:
    channel, assistant = Channel(), Assistant()
    assert await channel.post(None, assistant, raw=raw) == status
    assert assistant.messages == []


class SlowFirstAssistant(Assistant):
    """Takes longer on earlier messages, so unordered handling would answer out of order."""

    async def __call__(self, message: UserMessage) -> None:
        await asyncio.sleep(0.05 if message.text == "message 0" else 0)
        await super().__call__(message)


@pytest.mark.asyncio
async def test_burst_delivered_concurrently_is_answered_in_order() -> None:
    channel, assistant = Channel(), SlowFirstAssistant()
    updates = [channel.message(text=f"message {n}") for n in range(5)]
    statuses = await asyncio.gather(*(channel.post(update, assistant) for update in updates))
    assert statuses == [200] * 5
    assert channel.replies() == [f"Reçu : message {n}" for n in range(5)]


class SlowAssistant(Assistant):
    """Answers after `seconds`, as the assistant does when a busy machine records a report."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    async def __call__(self, message: UserMessage) -> None:
        await asyncio.sleep(self.seconds)
        await super().__call__(message)


@pytest.mark.asyncio
async def test_a_slow_answer_shows_the_citizen_that_the_town_is_typing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("connectors.telegram.channel.TYPING_AFTER_SECONDS", 0.05)
    monkeypatch.setattr("connectors.telegram.channel.TYPING_EVERY_SECONDS", 0.1)
    channel = Channel()
    assert await channel.post(channel.message(text="oui"), SlowAssistant(0.32)) == 200
    typing = channel.transport.sent("sendChatAction")
    assert 2 <= len(typing) <= 4 and all(t == {"chat_id": CHAT_ID, "action": "typing"} for t in typing)
    assert channel.replies() == ["Reçu : oui"]
    await asyncio.sleep(0.3)
    assert len(channel.transport.sent("sendChatAction")) == len(typing)  # stopped with the answer


@pytest.mark.asyncio
async def test_a_quick_answer_shows_no_typing_indicator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("connectors.telegram.channel.TYPING_AFTER_SECONDS", 0.2)
    channel = Channel()
    assert await channel.post(channel.message(text="bonjour"), Assistant()) == 200
    await asyncio.sleep(0.3)
    assert channel.transport.sent("sendChatAction") == []
