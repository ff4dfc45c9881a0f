"""Answers to Telegram go through python-telegram-bot's Bot, split, with inline keyboards, retried politely."""

from __future__ import annotations

import json

import pytest
from telegram.error import BadRequest, Forbidden

from connectors.shared.offers import MemoryOfferStore, short_key
from connectors.telegram.channel import create_bot, set_webhook
from connectors.telegram.fake_bot_api import RecordingBotRequest
from connectors.telegram.output import TelegramApi, TelegramOutput, callback_data_for, split_message

SENDER_ID = "telegram:424242"
LONG_PAYLOAD = '/inform{"procedure":"inscription_listes_electorales","service":"etat_civil"}'


class Harness:
    """A Telegram output channel whose Bot API calls are recorded."""

    def __init__(self, attempts: int = 4) -> None:
        self.transport = RecordingBotRequest()
        self.waits: list[float] = []
        self.offers = MemoryOfferStore()
        self.api = TelegramApi(create_bot("123456:TEST-TOKEN", self.transport), attempts=attempts, sleep=self.sleep)
        self.output = TelegramOutput(self.api, self.offers)

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.mark.asyncio
async def test_text_is_sent_to_the_chat_of_the_sender() -> None:
    h = Harness()
    await h.output.send_text_message(SENDER_ID, "La médiathèque ouvre à 10h.")
    assert h.transport.sent() == [{"chat_id": 424242, "text": "La médiathèque ouvre à 10h."}]


@pytest.mark.asyncio
async def test_long_text_is_split_at_word_boundaries_within_4096_characters() -> None:
    h = Harness()
    await h.output.send_text_message(SENDER_ID, "démarche " * 1000)
    parts = [call["text"] for call in h.transport.sent()]
    assert len(parts) == 3 and all(len(p) <= 4096 and p.endswith("démarche") for p in parts)
    assert " ".join(parts).split() == ("démarche " * 1000).split()


def test_split_handles_texts_without_spaces_and_emoji() -> None:
    assert [len(p) for p in split_message("x" * 9000)] == [4096, 4096, 808]
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in split_message("🙂" * 3000))


@pytest.mark.asyncio
async def test_buttons_become_an_inline_keyboard_and_are_remembered() -> None:
    h = Harness()
    buttons = [
        {"title": "Oui", "payload": "/affirm"},
        {"title": "Inscription", "payload": LONG_PAYLOAD},
        {"title": "Site de la ville", "url": "https://www.pau.fr"},
    ]
    await h.output.send_text_with_buttons(SENDER_ID, "Que souhaitez-vous ?", buttons)
    [call] = h.transport.sent()
    keyboard = json.loads(call["reply_markup"]) if isinstance(call["reply_markup"], str) else call["reply_markup"]
    assert keyboard["inline_keyboard"] == [
        [{"text": "Oui", "callback_data": "/affirm"}],
        [{"text": "Inscription", "callback_data": short_key(LONG_PAYLOAD)}],
        [{"text": "Site de la ville", "url": "https://www.pau.fr"}],
    ]
    offer = await h.offers.recall(SENDER_ID)
    assert offer is not None and offer.payloads == ["/affirm", LONG_PAYLOAD]


def test_callback_data_is_the_payload_up_to_64_bytes() -> None:
    assert callback_data_for("/affirm") == "/affirm"
    assert callback_data_for("é" * 32) == "é" * 32
    assert callback_data_for("é" * 33) == short_key("é" * 33)


@pytest.mark.asyncio
async def test_flood_control_is_honoured_with_retry_after() -> None:
    h = Harness()
    h.transport.script(
        "sendMessage",
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        },
    )
    await h.output.send_text_message(SENDER_ID, "Bonjour")
    assert h.waits == [7.0] and len(h.transport.sent()) == 2


@pytest.mark.asyncio
async def test_bad_gateway_is_retried_with_backoff() -> None:
    h = Harness()
    for _ in range(2):
        h.transport.script("sendMessage", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
    await h.output.send_text_message(SENDER_ID, "Bonjour")
    assert h.waits == [0.5, 1.0] and len(h.transport.sent()) == 3


@pytest.mark.asyncio
async def test_persistent_outage_gives_up_after_bounded_attempts() -> None:
    h = Harness(attempts=3)
    for _ in range(5):
        h.transport.script("sendMessage", 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"})
    with pytest.raises(Exception, match="Internal Server Error"):
        await h.output.send_text_message(SENDER_ID, "Bonjour")
    assert len(h.transport.sent()) == 3


@pytest.mark.asyncio
async def test_excessive_retry_after_is_not_waited_for() -> None:
    h = Harness()
    h.transport.script(
        "sendMessage",
        429,
        {"ok": False, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": 3600}},
    )
    with pytest.raises(Exception, match="Flood control"):
        await h.output.send_text_message(SENDER_ID, "Bonjour")
    assert h.waits == []


@pytest.mark.asyncio
@pytest.mark.parametrize(("status", "error"), [(400, BadRequest), (403, Forbidden)])
async def test_client_errors_are_not_retried(status: int, error: type[Exception]) -> None:
    h = Harness()
    h.transport.script(
        "sendMessage",
        status,
        {"ok": False, "error_code": status, "description": "Forbidden: bot was blocked by the user"},
    )
    with pytest.raises(error):
        await h.output.send_text_message(SENDER_ID, "Bonjour")
    assert len(h.transport.sent()) == 1


@pytest.mark.asyncio
async def test_unfetchable_image_is_sent_as_its_link() -> None:
    h = Harness()
    h.transport.script(
        "sendPhoto",
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: wrong file identifier/HTTP URL specified"},
    )
    await h.output.send_image_url(SENDER_ID, "https://www.pau.fr/plan.png")
    assert h.transport.sent() == [{"chat_id": 424242, "text": "https://www.pau.fr/plan.png"}]


@pytest.mark.asyncio
async def test_photo_file_url_is_obtained_through_get_file_on_demand() -> None:
    h = Harness()
    assert (await h.api.file_url("large")).endswith("photos/large.jpg")
    assert [c.endpoint for c in h.transport.calls] == ["getFile"]


@pytest.mark.asyncio
async def test_set_webhook_registers_url_secret_and_update_types() -> None:
    transport = RecordingBotRequest()
    url = await set_webhook("https://guichet.pau.example/", "s3cr3t_TOKEN-1", "123456:TEST-TOKEN", request=transport)
    assert url == "https://guichet.pau.example/webhooks/telegram/webhook"
    [params] = transport.sent("setWebhook")
    assert params["url"] == url and params["secret_token"] == "s3cr3t_TOKEN-1"
    assert params["allowed_updates"] == ["message", "edited_message", "callback_query"]


@pytest.mark.asyncio
async def test_set_webhook_refuses_a_secret_telegram_would_reject() -> None:
    with pytest.raises(ValueError):
        await set_webhook("https://x.example", "not valid!", "123456:TEST-TOKEN", request=RecordingBotRequest())


@pytest.mark.asyncio
async def test_answers_of_a_turn_never_raise_so_rasa_keeps_the_turn_and_stop_after_a_failure() -> None:
    h = Harness(attempts=2)
    answers = TelegramOutput(h.api, h.offers, raise_errors=False)
    for _ in range(2):
        h.transport.script("sendMessage", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
    await answers.send_text_message(SENDER_ID, "Première réponse")
    await answers.send_text_message(SENDER_ID, "Deuxième réponse")
    assert answers.failed is True
    assert len(h.transport.sent()) == 2  # both attempts of the first answer; the second was not tried
