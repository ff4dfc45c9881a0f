"""The REST channel speaks Rasa's protocol but answers bad input with a French notice or a 4xx, never a 500."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from rasa.core.channels.channel import UserMessage

from connectors.rest import MAX_SENDER_CHARS, Caller, RestHandler, RestInput, conversation_id
from connectors.shared.guard import Guard, SlidingWindowRateLimiter
from connectors.shared.identities import sms_sender_id
from connectors.shared.notices import Notices
from connectors.shared.offers import MemoryOfferStore
from connectors.telegram.updates import sender_id_for as telegram_sender_id
from connectors.webchat.channel import WebChatInput

NOTICES = Notices()
MENU = [{"title": "Oui, supprimer", "payload": "/affirm"}, {"title": "Non, garder", "payload": "/deny"}]


class Assistant:
    """Stands in for Rasa: records texts, answers each one after a delay, offers a menu for « supprimer »."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.texts: list[str] = []
        self.delay = delay
        self.fail = fail

    async def __call__(self, message: UserMessage) -> None:
        self.texts.append(message.text or "")
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("the conversation store is unavailable")
        if message.text == "supprimer mes données":
            await message.output_channel.send_text_with_buttons(message.sender_id, "Voulez-vous…", MENU)
        else:
            await message.output_channel.send_text_message(message.sender_id, f"Reçu : {message.text}")


def handler(max_chars: int = 2000, max_body: int = 64 * 1024) -> RestHandler:
    return RestHandler(Guard(MemoryOfferStore(), SlidingWindowRateLimiter(30), max_chars), NOTICES, max_body)


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"", 400),
        (b"not json", 400),
        (b'{"sender": "a", "message": "bonjour"', 400),
        (b"[1, 2, 3]", 400),
        (b'"bonjour"', 400),
        (b"\xff\xfe\x00b", 400),
        (body(sender="", message="bonjour"), 400),
        (body(sender="   ", message="bonjour"), 400),
        (body(sender={"id": 1}, message="bonjour"), 400),
        (body(sender="x" * 300, message="bonjour"), 400),
        (body(sender="a\x00b", message="bonjour"), 400),
        (body(sender="a", message=123), 400),
        (body(sender="a", message=["bonjour"]), 400),
        (body(sender="a", message="bonjour", metadata="oops"), 400),
        (body(sender="a", message="x" * 70_000), 413),
    ],
)
async def test_malformed_or_oversized_bodies_get_a_4xx_and_never_reach_the_assistant(raw: bytes, status: int) -> None:
    assistant = Assistant()
    got, answer = await handler().handle(raw, assistant)
    assert got == status and "error" in answer
    assert assistant.texts == []


@pytest.mark.parametrize(
    ("message", "notice"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("\x00\x01\x02", "empty"),
        (None, "empty"),
        ("a" * 2001, "too_long"),
        ("/", "empty"),
    ],
)
async def test_empty_or_too_long_texts_get_the_channels_french_notice(message: str | None, notice: str) -> None:
    assistant = Assistant()
    status, answer = await handler().handle(body(sender="citoyen", message=message), assistant)
    assert status == 200
    assert answer == [{"recipient_id": "citoyen", "text": NOTICES.render(notice, max_chars=2000)}]
    assert assistant.texts == []


@pytest.mark.parametrize(
    ("message", "handed_on"),
    [
        ("bonjour", "bonjour"),
        ("  BONJOUR  ", "BONJOUR"),
        ("bon\x00jour", "bonjour"),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),
        ("'; DROP TABLE events; --", "'; DROP TABLE events; --"),
        ("🙂🙂🙂", "🙂🙂🙂"),
        ('/erase_my_data{"x":"y"}', 'erase_my_data{"x":"y"}'),
        ("/restart", "restart"),
    ],
)
async def test_texts_are_cleaned_and_unoffered_intents_neutralised(message: str, handed_on: str) -> None:
    assistant = Assistant()
    status, answer = await handler().handle(body(sender=42, message=message), assistant)
    assert status == 200 and assistant.texts == [handed_on]
    assert answer[0]["recipient_id"] == "42"


async def test_a_button_just_offered_is_honoured_as_a_payload() -> None:
    assistant, rest = Assistant(), handler()
    _, first = await rest.handle(body(sender="c", message="supprimer mes données"), assistant)
    assert first[0]["buttons"] == MENU
    await rest.handle(body(sender="c", message="/affirm"), assistant)
    await rest.handle(body(sender="other", message="/affirm"), assistant)  # offered to someone else
    assert assistant.texts == ["supprimer mes données", "/affirm", "affirm"]


async def test_when_the_assistant_fails_the_citizen_is_told_the_service_is_unavailable() -> None:
    status, answer = await handler().handle(body(sender="c", message="bonjour"), Assistant(fail=True))
    assert status == 200
    assert answer == [{"recipient_id": "c", "text": NOTICES.unavailable}]
    assert "momentanément indisponible" in NOTICES.unavailable


async def test_a_burst_from_one_sender_is_handled_one_at_a_time_in_arrival_order() -> None:
    assistant, rest = Assistant(delay=0.05), handler()
    texts = [f"message {i}" for i in range(5)]
    answers = await asyncio.gather(*(rest.handle(body(sender="c", message=t), assistant) for t in texts))
    assert assistant.texts == texts
    assert [a[1][0]["text"] for a in answers] == [f"Reçu : {t}" for t in texts]


def test_the_channel_keeps_rasas_name_and_path() -> None:
    assert RestInput.name() == "rest" and RestInput().url_prefix() == "rest"  # mounted at /webhooks/rest


class Senders:
    """Stands in for Rasa: records the sender id each message is handed on with."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    async def __call__(self, message: UserMessage) -> None:
        self.ids.append(message.sender_id)
        await message.output_channel.send_text_message(message.sender_id, "Bonjour")


def each_channels_own_sender_ids() -> list[str]:
    """The sender ids the other channels really store, from their own code."""
    webchat = WebChatInput(upload_dir=Path("unused"))
    return [
        telegram_sender_id(99),
        sms_sender_id(b"identity-secret", "+33612345678"),
        webchat._sender_id("socket-id", "a" * 32),
        "voice:+33612345678",
    ]


@pytest.mark.parametrize(
    "sender",
    [*each_channels_own_sender_ids(), "telegram:99", "TELEGRAM:99", "  sms:0123abcd", "Webchat:abc", "voice:1"],
)
async def test_a_sender_of_another_channel_is_refused_and_nothing_is_handed_on(sender: str) -> None:
    assistant = Senders()
    status, answer = await handler().handle(body(sender=sender, message="supprimer mes données"), assistant)
    assert status == 403 and "error" in answer
    assert assistant.ids == []


@pytest.mark.parametrize("sender", ["citoyen", "42", "bench-0f3a", "rest:déjà préfixé", "telegram"])
async def test_rest_conversations_are_stored_under_rest_and_the_answer_names_the_sender_as_sent(sender: str) -> None:
    assistant = Senders()
    status, answer = await handler().handle(body(sender=sender, message="bonjour"), assistant)
    assert status == 200
    assert assistant.ids == [f"rest:{sender}"]
    assert answer == [{"recipient_id": sender, "text": "Bonjour"}]


async def test_buttons_offered_to_a_rest_conversation_are_honoured_for_that_conversation_only() -> None:
    assistant, rest = Assistant(), handler()
    await rest.handle(body(sender="c", message="supprimer mes données"), assistant)
    await rest.handle(body(sender="c", message="/affirm"), assistant)
    assert assistant.texts == ["supprimer mes données", "/affirm"]
    assert await rest.guard.offers.recall("c") is None  # remembered under the stored id only
    assert await rest.guard.offers.recall("rest:c") is not None


def test_the_longest_sender_still_fits_rasas_sender_id_column() -> None:
    assert len(conversation_id("x" * MAX_SENDER_CHARS)) == 255


LOOPBACK = ["127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1"]
TOKEN = "s3cret-rest-token"


@pytest.mark.parametrize(
    ("peer", "headers", "token", "status"),
    [
        *[(peer, {}, None, 200) for peer in LOOPBACK],
        ("127.0.0.1", {"x-forwarded-for": "203.0.113.7"}, None, 403),  # a proxy on the same host
        ("127.0.0.1", {"forwarded": "for=203.0.113.7"}, None, 403),
        ("127.0.0.1", {"x-real-ip": "203.0.113.7"}, None, 403),
        ("203.0.113.7", {}, None, 403),  # REST_TOKEN unset: local only
        ("10.0.0.5", {"authorization": f"Bearer {TOKEN}"}, None, 403),
        ("", {}, None, 403),  # an address we cannot read is not local
        ("203.0.113.7", {}, TOKEN, 401),
        ("203.0.113.7", {"authorization": "Bearer wrong"}, TOKEN, 401),
        ("203.0.113.7", {"authorization": TOKEN}, TOKEN, 401),
        ("127.0.0.1", {"x-forwarded-for": "203.0.113.7", "authorization": "Bearer nope"}, TOKEN, 401),
        ("203.0.113.7", {"authorization": f"Bearer {TOKEN}"}, TOKEN, 200),
        ("203.0.113.7", {"authorization": f"bearer  {TOKEN} "}, TOKEN, 200),
        ("127.0.0.1", {"x-forwarded-for": "203.0.113.7", "authorization": f"Bearer {TOKEN}"}, TOKEN, 200),
    ],
)
async def test_only_local_callers_or_holders_of_the_rest_token_are_answered(
    peer: str, headers: dict[str, str], token: str | None, status: int
) -> None:
    assistant = Assistant()
    rest = RestHandler(Guard(MemoryOfferStore(), SlidingWindowRateLimiter(30), 2000), NOTICES, 64 * 1024, token)
    got, answer = await rest.handle(body(sender="c", message="bonjour"), assistant, Caller(peer, headers))
    assert got == status
    assert assistant.texts == (["bonjour"] if status == 200 else [])
    assert status == 200 or "error" in answer


def test_the_rest_token_is_read_from_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bot.settings import get_settings

    monkeypatch.setenv("REST_TOKEN", TOKEN)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'guichet.db'}")
    get_settings.cache_clear()
    try:
        assert RestInput().handler().token == TOKEN
    finally:
        get_settings.cache_clear()
