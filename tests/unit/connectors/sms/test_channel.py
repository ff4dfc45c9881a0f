"""The SMS webhook accepts only Twilio-signed requests, once each, and answers by the REST API."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

import pytest
from rasa.core.channels.channel import UserMessage
from twilio.request_validator import RequestValidator

from connectors.shared.channel_stores import memory_channel_stores
from connectors.shared.guard import Guard, SlidingWindowRateLimiter
from connectors.shared.identities import sms_sender_id
from connectors.shared.notices import Notices
from connectors.sms.channel import EMPTY_TWIML, SmsDeps, SmsWebhook, keyword_of, media_of, set_sms_webhook
from connectors.sms.fake_twilio import RecordingTwilioHttpClient
from connectors.sms.output import TwilioSender
from connectors.sms.rendering import SmsRenderer

AUTH_TOKEN = "twilio-test-auth-token"
PUBLIC_URL = "https://guichet.pau.example"
PATH = "/webhooks/sms/webhook"
NUMBER = "+33536490012"
SECRET = b"identity-test-secret"
SENDER_ID = sms_sender_id(SECRET, NUMBER)
MENU = [
    {"title": "Horaires", "payload": "/ask_opening_hours"},
    {"title": "Adresse", "payload": '/ask_service_location{"service":"piscine"}'},
]


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
            await message.output_channel.send_text_with_buttons(message.sender_id, "Que voulez-vous ?", MENU)
        else:
            await message.output_channel.send_text_message(message.sender_id, f"Reçu : {message.text}")

    @property
    def texts(self) -> list[str]:
        return [m.text or "" for m in self.messages]


class Channel:
    """The SMS webhook on in-memory stores and Twilio's client with a recording transport."""

    def __init__(self, rate_limit: int = 30) -> None:
        self.http = RecordingTwilioHttpClient()
        self.stores = memory_channel_stores()
        notices = Notices()
        self.webhook = SmsWebhook(
            SmsDeps(
                sender=TwilioSender("AC" + "2" * 32, AUTH_TOKEN, "+33536490000", http_client=self.http),
                stores=self.stores,
                guard=Guard(self.stores.offers, SlidingWindowRateLimiter(rate_limit), max_chars=2000),
                notices=notices,
                renderer=SmsRenderer(notices),
                auth_token=AUTH_TOKEN,
                public_url=PUBLIC_URL,
                identity_secret=SECRET,
                max_body_bytes=64 * 1024,
            )
        )
        self.sid = 0

    def form(self, body: str | None = None, **extra: str) -> dict[str, str]:
        self.sid += 1
        params = {
            "MessageSid": f"SM{self.sid:032d}",
            "AccountSid": "AC" + "2" * 32,
            "From": NUMBER,
            "To": "+33536490000",
            "NumMedia": "0",
        }
        if body is not None:
            params["Body"] = body
        return {**params, **extra}

    async def post(
        self, params: dict[str, str], assistant: Assistant, signature: str | None = "sign", raw: bytes | None = None
    ) -> tuple[int, str]:
        headers = {}
        if signature == "sign":
            headers["X-Twilio-Signature"] = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + PATH, params)
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        body = raw if raw is not None else urlencode(params).encode()
        result = await self.webhook.handle(PATH, "", headers, body, assistant)
        await self.webhook.lanes.drain()
        return result

    async def say(self, text: str, assistant: Assistant, **extra: str) -> tuple[int, str]:
        return await self.post(self.form(text, **extra), assistant)


@pytest.mark.asyncio
async def test_signed_sms_is_acknowledged_with_empty_twiml_and_answered_by_rest() -> None:
    channel, assistant = Channel(), Assistant()
    assert await channel.say("Bonjour, horaires de la mairie ?", assistant) == (200, EMPTY_TWIML)
    [message] = assistant.messages
    assert message.sender_id == SENDER_ID and NUMBER not in message.sender_id
    assert message.input_channel == "sms" and message.metadata == {"channel": "sms"}
    assert channel.http.bodies() == ["Reçu : Bonjour, horaires de la mairie ?"]
    assert channel.http.calls[0].data["To"] == NUMBER


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "signature", [None, "", "forged+signature=", RequestValidator("wrong").compute_signature(PUBLIC_URL + PATH, {})]
)
async def test_unsigned_or_forged_sms_is_refused_and_never_reaches_the_assistant(signature: str | None) -> None:
    channel, assistant = Channel(), Assistant()
    status, _ = await channel.post(channel.form("Bonjour"), assistant, signature=signature)
    assert status == 403 and assistant.messages == [] and channel.http.calls == []


@pytest.mark.asyncio
async def test_signature_for_another_url_is_refused() -> None:
    channel, assistant = Channel(), Assistant()
    params = channel.form("Bonjour")
    signature = RequestValidator(AUTH_TOKEN).compute_signature("http://127.0.0.1:5005" + PATH, params)
    assert (await channel.post(params, assistant, signature=signature))[0] == 403


@pytest.mark.asyncio
async def test_tampered_body_is_refused() -> None:
    channel, assistant = Channel(), Assistant()
    params = channel.form("Bonjour")
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + PATH, params)
    tampered = urlencode({**params, "Body": "Supprime tout"}).encode()
    assert (await channel.post(params, assistant, signature=signature, raw=tampered))[0] == 403


@pytest.mark.asyncio
async def test_repeated_delivery_of_one_message_sid_is_processed_once() -> None:
    channel, assistant = Channel(), Assistant()
    params = channel.form("Bonjour")
    first = await channel.post(params, assistant)
    again = await channel.post(params, assistant)
    assert first == again == (200, EMPTY_TWIML)
    assert len(assistant.messages) == 1 and len(channel.http.calls) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("word", ["STOP", "stop", "Arret", "ARRÊT", "arrêt.", " Stop "])
async def test_stop_opts_out_every_later_message_until_start(word: str) -> None:
    channel, assistant = Channel(), Assistant()
    await channel.say(word, assistant)
    assert assistant.messages == []
    assert await channel.stores.optouts.is_opted_out(SENDER_ID)
    assert channel.http.bodies() == [Notices().sms_opted_out]  # the one confirmation
    await channel.say("Horaires piscine ?", assistant)
    assert len(channel.http.calls) == 1  # answer not sent while opted out
    await channel.say("START", assistant)
    assert not await channel.stores.optouts.is_opted_out(SENDER_ID)
    await channel.say("Horaires piscine ?", assistant)
    assert channel.http.bodies()[-2:] == [Notices().sms_opted_in, "Reçu : Horaires piscine ?"]


@pytest.mark.asyncio
@pytest.mark.parametrize("text", ["STOP les bruits de la rue", "arrêt de bus cassé"])
async def test_stop_inside_a_sentence_is_an_ordinary_message(text: str) -> None:
    channel, assistant = Channel(), Assistant()
    await channel.say(text, assistant)
    assert assistant.texts == [text]
    assert not await channel.stores.optouts.is_opted_out(SENDER_ID)


@pytest.mark.asyncio
@pytest.mark.parametrize("word", ["AIDE", "aide", "Aide !"])
async def test_aide_asks_the_assistant_for_help(word: str) -> None:
    channel, assistant = Channel(), Assistant()
    await channel.say(word, assistant)
    assert assistant.texts == ["/help"]


@pytest.mark.asyncio
async def test_numbered_reply_sends_the_payload_of_that_button() -> None:
    channel, assistant = Channel(), Assistant()
    await channel.say("menu", assistant)
    assert channel.http.bodies()[-1] == "Que voulez-vous ?\n1. Horaires\n2. Adresse\nRépondez 1 ou 2."
    await channel.say("2", assistant)
    assert assistant.texts[-1] == '/ask_service_location{"service":"piscine"}'
    await channel.say("7", assistant)
    assert assistant.texts[-1] == "7"


@pytest.mark.asyncio
async def test_number_after_an_answer_without_menu_is_plain_text() -> None:
    channel, assistant = Channel(), Assistant()
    await channel.say("menu", assistant)
    await channel.say("merci", assistant)
    await channel.say("2", assistant)
    assert assistant.texts[-1] == "2"


@pytest.mark.asyncio
async def test_mms_photo_is_passed_on_for_reports() -> None:
    channel, assistant = Channel(), Assistant()
    await channel.say(
        "",
        assistant,
        NumMedia="1",
        MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM1/Media/ME1",
        MediaContentType0="image/jpeg",
    )
    [message] = assistant.messages
    assert message.text == Notices().photo_text
    assert message.metadata["media"] == [
        {"url": "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM1/Media/ME1", "content_type": "image/jpeg"}
    ]


@pytest.mark.asyncio
async def test_citizen_over_the_rate_limit_gets_one_polite_answer_per_window() -> None:
    channel, assistant = Channel(rate_limit=2), Assistant()
    for text in ("un", "deux", "trois", "quatre", "cinq"):
        await channel.say(text, assistant)
    assert assistant.texts == ["un", "deux"]
    assert channel.http.bodies() == ["Reçu : un", "Reçu : deux", Notices().rate_limited]


@pytest.mark.asyncio
async def test_assistant_failure_gets_an_honest_answer() -> None:
    channel, assistant = Channel(), Assistant(fail=True)
    assert (await channel.say("Bonjour", assistant))[0] == 200
    assert channel.http.bodies() == [Notices().unavailable]


@pytest.mark.asyncio
async def test_burst_from_one_sender_is_answered_in_order() -> None:
    channel, assistant = Channel(), Assistant()
    for n in range(5):
        params = channel.form(f"message {n}")
        signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + PATH, params)
        await channel.webhook.handle(PATH, "", {"X-Twilio-Signature": signature}, urlencode(params).encode(), assistant)
    await channel.webhook.lanes.drain()
    assert channel.http.bodies() == [f"Reçu : message {n}" for n in range(5)]


BAD_INPUT = [
    # (what, Body, expected status, text handed to the assistant or None, expected SMS answer or None)
    ("empty", "", 200, None, Notices().empty),
    ("whitespace", "   \n ", 200, None, Notices().empty),
    ("emoji only", "🙂🙂", 200, "🙂🙂", "Reçu : 🙂🙂"),
    ("5,000+ characters", "a" * 5001, 200, None, Notices().too_long.format(max_chars=2000)),
    ("html/script", "<script>alert('x')</script>", 200, "<script>alert('x')</script>", None),
    ("sql-looking", "1; DROP TABLE sms_optouts;--", 200, "1; DROP TABLE sms_optouts;--", None),
    ("nul and control chars", "bon\x00jour\x1b", 200, "bonjour", None),
    ("all caps", "OU EST LA PISCINE", 200, "OU EST LA PISCINE", None),
    ("digits only", "31000", 200, "31000", None),
    ("intent injection", '/erase_my_data{"confirm": true}', 200, 'erase_my_data{"confirm": true}', None),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("what", "body", "status", "handed_on", "answer"), BAD_INPUT, ids=[row[0] for row in BAD_INPUT]
)
async def test_bad_input_gets_a_clear_answer_never_an_error(
    what: str, body: str, status: int, handed_on: str | None, answer: str | None
) -> None:
    channel, assistant = Channel(), Assistant()
    assert (await channel.say(body, assistant))[0] == status
    assert assistant.texts == ([handed_on] if handed_on is not None else [])
    assert len(channel.http.calls) == 1  # never silence
    if answer is not None:
        assert channel.http.bodies() == [answer]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("what", "raw", "status"),
    [
        ("malformed form", b"%%%&&&==", 400),
        ("not utf-8", b"Body=\xff\xfe", 400),
        ("missing MessageSid", b"From=%2B33536490012&Body=x", 400),
        ("oversized body", b"Body=" + b"a" * (64 * 1024), 413),
    ],
)
async def test_malformed_or_oversized_body_gets_a_4xx(what: str, raw: bytes, status: int) -> None:
    channel, assistant = Channel(), Assistant()
    try:
        params = {k: v[0] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}
    except UnicodeDecodeError:
        params = {}
    assert (await channel.post(params, assistant, raw=raw))[0] == status
    assert assistant.messages == []


@pytest.mark.parametrize(
    ("text", "keyword"), [("ARRÊT", "arret"), (" Stop! ", "stop"), ("Aide.", "aide"), ("stop bruit", "stop bruit")]
)
def test_keywords_are_recognised_alone_in_any_case(text: str, keyword: str) -> None:
    assert keyword_of(text) == keyword


def test_media_count_is_bounded_and_garbage_ignored() -> None:
    assert media_of({"NumMedia": "abc"}) == []
    assert len(media_of({"NumMedia": "50", **{f"MediaUrl{i}": f"u{i}" for i in range(50)}})) == 10


@pytest.mark.asyncio
async def test_set_sms_webhook_points_the_twilio_number_at_the_public_url() -> None:
    http = RecordingTwilioHttpClient()
    http.script(
        200,
        {"incoming_phone_numbers": [{"sid": "PN" + "4" * 32, "phone_number": "+33536490000"}], "next_page_uri": None},
    )
    http.script(200, {"sid": "PN" + "4" * 32, "sms_url": PUBLIC_URL + PATH, "sms_method": "POST"})
    url = await set_sms_webhook(PUBLIC_URL + "/", "AC" + "2" * 32, AUTH_TOKEN, "+33536490000", http_client=http)
    assert url == PUBLIC_URL + PATH
    listing, update = http.calls
    assert listing.method == "GET" and update.method == "POST"
    assert update.uri.endswith("/IncomingPhoneNumbers/PN" + "4" * 32 + ".json")
    assert update.data == {"SmsUrl": PUBLIC_URL + PATH, "SmsMethod": "POST"}


@pytest.mark.asyncio
async def test_set_sms_webhook_refuses_a_number_of_another_account() -> None:
    http = RecordingTwilioHttpClient()
    http.script(200, {"incoming_phone_numbers": [], "next_page_uri": None})
    with pytest.raises(LookupError):
        await set_sms_webhook(PUBLIC_URL, "AC" + "2" * 32, AUTH_TOKEN, "+33536499999", http_client=http)


class Talkative(Assistant):
    """An assistant whose answers are too long for one SMS."""

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)
        await message.output_channel.send_text_message(
            message.sender_id, " ".join(f"Phrase numéro {n} de la longue réponse." for n in range(1, 40))
        )


@pytest.mark.asyncio
async def test_suite_sends_the_next_part_of_a_long_answer_and_says_when_nothing_is_left() -> None:
    channel, assistant = Channel(), Talkative()
    await channel.say("toutes les démarches ?", assistant)
    [first] = channel.http.bodies()
    assert first.endswith(Notices().sms_more_hint)

    for word in ["SUITE", "suite", "Suite."]:
        await channel.say(word, assistant)
    await channel.say("SUITE", assistant)
    bodies = channel.http.bodies()
    assert len(assistant.messages) == 1  # SUITE is a channel word: the assistant never reads it
    told = "\n".join(bodies)
    assert "Phrase numéro 1 " in told and "Phrase numéro 39 de la longue réponse." in told
    assert bodies[-1] == Notices().sms_nothing_more


@pytest.mark.asyncio
async def test_suite_with_nothing_waiting_gets_a_clear_short_answer() -> None:
    channel, assistant = Channel(), Assistant()
    await channel.say("SUITE", assistant)
    assert channel.http.bodies() == [Notices().sms_nothing_more] and assistant.messages == []


@pytest.mark.asyncio
@pytest.mark.parametrize("text", ["stop merci", "STOP SVP", "arrêtez les sms", "Stop, merci !", "arretez svp"])
async def test_stop_inside_a_short_message_opts_out_and_is_confirmed_once(text: str) -> None:
    channel, assistant = Channel(), Assistant()
    await channel.say(text, assistant)
    await channel.say(text, assistant)  # said twice: confirmed once
    assert assistant.messages == []
    assert await channel.stores.optouts.is_opted_out(SENDER_ID)
    assert channel.http.bodies() == [Notices().sms_opted_out]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "text",
    ["le panneau stop est tombé", "panneau stop tombé", "arrêt de bus cassé rue Carnot",
     "quand est-ce que vous arrêtez les travaux de la rue ?"],
)  # fmt: skip
async def test_stop_in_a_message_about_something_else_goes_to_the_assistant(text: str) -> None:
    channel, assistant = Channel(), Assistant()
    await channel.say(text, assistant)
    assert assistant.texts == [text]
    assert not await channel.stores.optouts.is_opted_out(SENDER_ID)


@pytest.mark.asyncio
async def test_stop_forgets_the_rest_of_a_long_answer() -> None:
    channel, assistant = Channel(), Talkative()
    await channel.say("toutes les démarches ?", assistant)
    await channel.say("stop merci", assistant)
    await channel.say("START", assistant)
    await channel.say("SUITE", assistant)
    assert channel.http.bodies()[-1] == Notices().sms_nothing_more
