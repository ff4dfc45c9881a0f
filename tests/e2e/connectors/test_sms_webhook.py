"""End to end: a real Sanic server with the SMS channel, called over HTTP like Twilio would, answered via REST."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
import pytest_asyncio
from rasa.core.channels.channel import UserMessage
from sanic import Sanic
from twilio.request_validator import RequestValidator

from connectors.shared.channel_stores import open_channel_stores
from connectors.shared.guard import Guard, SlidingWindowRateLimiter
from connectors.shared.identities import sms_sender_id
from connectors.shared.notices import Notices
from connectors.sms import SmsDeps, SmsInput, SmsRenderer, TwilioSender
from connectors.sms.fake_twilio import RecordingTwilioHttpClient

AUTH_TOKEN = "e2e-twilio-auth-token"
PUBLIC_URL = "https://guichet.pau.example"  # what Twilio calls; the proxy forwards to 127.0.0.1
PATH = "/webhooks/sms/webhook"
NUMBER = "+33536490077"
SECRET = b"e2e-identity-secret"
MENU = [
    {"title": "Horaires", "payload": '/ask_opening_hours{"service":"piscine"}'},
    {"title": "Adresse", "payload": '/ask_service_location{"service":"piscine"}'},
    {"title": "Contact", "payload": '/ask_service_contact{"service":"piscine"}'},
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Assistant:
    """Stands in for Rasa: records messages and answers through the message's output channel."""

    def __init__(self) -> None:
        self.messages: list[UserMessage] = []
        self.long_answer: str | None = None

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)
        if self.long_answer:
            await message.output_channel.send_text_with_buttons(message.sender_id, self.long_answer, MENU)
        elif message.text == "piscine":
            await message.output_channel.send_text_with_buttons(message.sender_id, "Que voulez-vous savoir ?", MENU)
        else:
            await message.output_channel.send_text_message(message.sender_id, f"Reçu : {message.text}")


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
    """The SMS channel behind a real HTTP server, with Twilio's client on a recording transport."""

    def __init__(self, base_url: str, channel: SmsInput, assistant: Assistant, http: RecordingTwilioHttpClient) -> None:
        self.base_url, self.channel, self.assistant, self.http = base_url, channel, assistant, http
        self.sid = 0

    def form(self, body: str, **extra: str) -> dict[str, str]:
        self.sid += 1
        return {
            "MessageSid": f"SM{uuid.uuid4().hex}",
            "From": NUMBER,
            "To": "+33536490000",
            "Body": body,
            "NumMedia": "0",
            **extra,
        }

    async def post(
        self, params: dict[str, str], *, signature: str | None = "sign", raw: bytes | None = None
    ) -> httpx.Response:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signature == "sign":
            headers["X-Twilio-Signature"] = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + PATH, params)
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            response = await client.post(
                PATH, content=raw if raw is not None else urlencode(params).encode(), headers=headers
            )
        await self.channel.webhook().lanes.drain()
        return response


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    http = RecordingTwilioHttpClient()
    stores = open_channel_stores(f"sqlite:///{tmp_path / 'guichet.db'}")
    notices = Notices()
    deps = SmsDeps(
        sender=TwilioSender("AC" + "3" * 32, AUTH_TOKEN, "+33536490000", http_client=http),
        stores=stores,
        guard=Guard(stores.offers, SlidingWindowRateLimiter(30), max_chars=2000),
        notices=notices,
        renderer=SmsRenderer(notices),
        auth_token=AUTH_TOKEN,
        public_url=PUBLIC_URL,
        identity_secret=SECRET,
        max_body_bytes=16 * 1024,
    )
    channel, assistant = SmsInput(deps=deps), Assistant()
    app = Sanic(f"guichet_sms_{uuid.uuid4().hex[:8]}")
    app.blueprint(channel.blueprint(assistant), url_prefix="/webhooks/sms")
    async with running(app) as base_url:
        yield Server(base_url, channel, assistant, http)


@pytest.mark.asyncio
async def test_signed_sms_gets_empty_twiml_then_an_answer_by_rest(server: Server) -> None:
    response = await server.post(server.form("Bonjour"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml") and "<Response/>" in response.text
    assert [m.text for m in server.assistant.messages] == ["Bonjour"]
    assert server.assistant.messages[0].sender_id == sms_sender_id(SECRET, NUMBER)
    assert server.http.bodies() == ["Reçu : Bonjour"] and server.http.calls[0].data["To"] == NUMBER


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "signature", [None, "AAAA", RequestValidator("not-the-token").compute_signature(PUBLIC_URL + PATH, {"Body": "x"})]
)
async def test_forged_or_unsigned_sms_gets_403(server: Server, signature: str | None) -> None:
    response = await server.post(server.form("Bonjour"), signature=signature)
    assert response.status_code == 403
    assert server.assistant.messages == [] and server.http.calls == []


@pytest.mark.asyncio
async def test_same_message_sid_twice_is_answered_once(server: Server) -> None:
    params = server.form("Bonjour")
    assert [(await server.post(params)).status_code for _ in range(2)] == [200, 200]
    assert len(server.assistant.messages) == 1 and len(server.http.calls) == 1


@pytest.mark.asyncio
async def test_buttons_become_a_numbered_menu_and_a_number_picks_one(server: Server) -> None:
    await server.post(server.form("piscine"))
    assert server.http.bodies()[-1].endswith("1. Horaires\n2. Adresse\n3. Contact\nRépondez 1, 2 ou 3.")
    await server.post(server.form("3"))
    assert server.assistant.messages[-1].text == '/ask_service_contact{"service":"piscine"}'


@pytest.mark.asyncio
async def test_stop_is_honoured_by_notifications_too(server: Server) -> None:
    await server.post(server.form("ARRÊT"))
    sender_id = sms_sender_id(SECRET, NUMBER)
    await server.channel.get_output_channel().send_text_message(sender_id, "Votre signalement est traité.")
    assert server.http.bodies() == [Notices().sms_opted_out]
    await server.post(server.form("start"))
    await server.channel.get_output_channel().send_text_message(sender_id, "Votre signalement est traité.")
    assert server.http.bodies()[-1] == "Votre signalement est traité."


BAD_BODIES = [
    ("empty", "", 200),
    ("whitespace", "   ", 200),
    ("emoji only", "🤔", 200),
    ("5,000+ characters", "b" * 5001, 200),
    ("html/script", "<script>document.cookie</script>", 200),
    ("sql-looking", "'; DELETE FROM tickets; --", 200),
    ("nul and control chars", "\x00\x01\x02", 200),
    ("all caps", "MA POUBELLE N'A PAS ETE RAMASSEE", 200),
    ("digits only", "1234567", 200),
    ("intent injection", '/erase_my_data{"confirm":true}', 200),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("what", "body", "status"), BAD_BODIES, ids=[row[0] for row in BAD_BODIES])
async def test_bad_input_over_http_gets_an_answer_and_no_5xx(server: Server, what: str, body: str, status: int) -> None:
    response = await server.post(server.form(body))
    assert response.status_code == status
    assert len(server.http.calls) == 1  # the citizen always gets an SMS back
    assert all(not (m.text or "").startswith("/erase") for m in server.assistant.messages)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("what", "raw", "status"),
    [
        ("malformed form", b"&&==%%", 400),
        ("oversized body", b"Body=" + b"x" * 20000, 413),
        ("missing From", b"MessageSid=SM1&Body=x", 400),
    ],
)
async def test_malformed_or_oversized_request_gets_a_4xx(server: Server, what: str, raw: bytes, status: int) -> None:
    signed_over = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    response = await server.post(signed_over, raw=raw)
    assert response.status_code == status
    assert server.assistant.messages == []


@pytest.mark.asyncio
async def test_a_long_answer_is_read_to_the_end_with_suite_over_http(server: Server) -> None:
    long_question = "toutes les démarches possibles ?"
    server.assistant.long_answer = " ".join(f"Point {n} : tout est expliqué à l'accueil." for n in range(1, 30))
    await server.post(server.form(long_question))
    while not server.http.bodies()[-1] == Notices().sms_nothing_more:
        await server.post(server.form("SUITE"))
        assert len(server.http.calls) < 20
    bodies = server.http.bodies()
    assert bodies[0].endswith(Notices().sms_more_hint)
    assert "Point 29 : tout est expliqué à l'accueil." in bodies[-2]
    assert [m.text for m in server.assistant.messages] == [long_question]


@pytest.mark.asyncio
async def test_stop_merci_opts_out_of_ticket_notifications_from_the_outbox(server: Server, tmp_path: Path) -> None:
    from datetime import timedelta

    from bot.db import create_engine_for
    from bot.town.tickets import OutboxStore, TicketDraft, TicketStore, create_schema

    sender_id = sms_sender_id(SECRET, NUMBER)
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")  # the database the channel's stores use
    create_schema(engine)
    tickets = TicketStore(engine)
    ref = tickets.create_ticket(
        TicketDraft("voirie", "Trou", address="Rue Tran", channel="sms", sender_id=sender_id)
    ).ref

    await server.post(server.form("stop merci"))
    await server.post(server.form("STOP SVP"))
    tickets.set_status(ref, "pris_en_charge", None, "agent:marie")
    claimed, cancelled = OutboxStore(engine).claim_due(tickets.clock(), limit=5, lease=timedelta(minutes=5))

    assert (claimed, cancelled) == ([], 1)
    assert server.http.bodies() == [Notices().sms_opted_out]  # confirmed once, nothing else sent
    assert server.assistant.messages == []
