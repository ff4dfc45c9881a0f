"""The REST channel speaks Rasa's protocol but answers bad input with a French notice or a 4xx, never a 500."""

from __future__ import annotations

import asyncio
import json

import pytest
from rasa.core.channels.channel import UserMessage

from connectors.rest import RestHandler, RestInput
from connectors.shared.guard import Guard, SlidingWindowRateLimiter
from connectors.shared.notices import Notices
from connectors.shared.offers import MemoryOfferStore

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
