"""Phone channel (Twilio Programmable Voice): `POST /webhooks/voice/webhook`, one conversation per caller.

Each request is a turn: Twilio posts what the caller said (`SpeechResult`, `Confidence`) or typed (`Digits`), the
assistant answers in the same exchange, and the TwiML says the answer and gathers again. Requests are signed by
Twilio against PUBLIC_URL (403 otherwise). A turn is keyed on the CallSid and the turn number carried in the
`<Gather action>` URL (signed with it), answered once; a repeated delivery gets the same TwiML. The caller's number
becomes a pseudonym (`voice:<keyed hash>`, the same key as SMS senders); no audio is requested or stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlencode

import phonenumbers
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.http import HttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.settings import ROOT, Settings, get_settings
from bot.town.privacy.pseudonyms import load_identity_secret, voice_sender_id
from bot.town.tickets.store import store_from_settings
from connectors.shared.channel_stores import ChannelStores, dispose_after_fork, open_channel_stores
from connectors.shared.guard import GREET_PAYLOAD, Guard, SlidingWindowRateLimiter, Verdict
from connectors.shared.notices import Notices, load_notices
from connectors.sms.channel import parse_form
from connectors.voice import twiml
from connectors.voice.answers import Spoken, VoiceCollector, spoken_answer
from connectors.voice.references import OutboxReferenceTexts, ReferenceTexts, is_french_mobile
from connectors.voice.speech import choice_of, yes_or_no
from connectors.voice.turns import CONFIRM, SWITCHBOARD, TEXT_REFERENCE, SqlTurnStore, Turn, TurnStore

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
WEBHOOK_PATH = "/webhooks/voice/webhook"
WHISPER_PATH = "/webhooks/voice/whisper"
STATUS_PATH = "/webhooks/voice/status"
AFTER_TRANSFER_PATH = "/webhooks/voice/transfer-ended"
CONNECTED = {"completed", "answered"}  # DialCallStatus of a transfer someone took
HANDOFF_PAYLOAD = "/request_human"
MISSES_BEFORE_SWITCHBOARD = 2
MAX_TURNS = 200  # a call longer than this is a loop, not a citizen

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


def _first(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return str(value or "")


def caller_key(number: str, call_sid: str) -> str:
    """What a caller's pseudonym is made from: their number, or the call itself when the number is withheld.

    Withheld numbers arrive as words or as placeholder numbers that are no one's ("anonymous", "+266696687"...):
    keyed on them, every anonymous caller would share one conversation, and hear the others' reports.
    """
    try:
        valid = phonenumbers.is_valid_number(phonenumbers.parse(number, "FR"))
    except phonenumbers.NumberParseException:
        valid = False
    return number if valid else f"call:{call_sid}"


def confidence_of(raw: str) -> float | None:
    """Twilio's speech confidence (0 to 1), or None when absent or not a number."""
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None


async def set_voice_webhook(
    public_url: str, account_sid: str, auth_token: str, number: str, *, http_client: HttpClient | None = None
) -> str:
    """Point the Twilio number's incoming-call webhook and status callback at this server; returns the webhook URL."""
    base = public_url.rstrip("/")

    def update() -> None:
        client = Client(account_sid, auth_token, http_client=http_client)
        numbers = client.incoming_phone_numbers.list(phone_number=number, limit=1)
        if not numbers:
            raise LookupError(f"{number} is not a number of this Twilio account")
        client.incoming_phone_numbers(numbers[0].sid).update(
            voice_url=base + WEBHOOK_PATH,
            voice_method="POST",
            status_callback=base + STATUS_PATH,
            status_callback_method="POST",
        )

    await asyncio.to_thread(update)
    return base + WEBHOOK_PATH


@dataclass
class VoiceDeps:
    """Everything the phone webhook works with."""

    stores: ChannelStores
    turns: TurnStore
    guard: Guard
    notices: Notices
    auth_token: str | None
    public_url: str
    identity_secret: bytes
    max_body_bytes: int
    voice: twiml.Voice = field(default_factory=twiml.Voice)
    transfer_number: str | None = None
    min_confidence: float = 0.5
    repeat_wait_seconds: float = 10.0
    references: ReferenceTexts | None = None


@dataclass(frozen=True)
class Heard:
    """What the caller said or typed in one turn, and from which number."""

    speech: str
    digits: str
    confidence: float | None
    number: str = ""


class VoiceWebhook:
    """Authenticates Twilio's voice requests and answers each turn once, in the same exchange."""

    def __init__(self, deps: VoiceDeps) -> None:
        self.deps = deps

    def is_authentic(self, path: str, query_string: str, params: Mapping[str, Any], signature: str) -> bool:
        """Whether Twilio signed this request for our public URL (always False without an auth token)."""
        if not self.deps.auth_token:
            return False
        url = self.deps.public_url.rstrip("/") + path + (f"?{query_string}" if query_string else "")
        return RequestValidator(self.deps.auth_token).validate(url, params, signature)

    def url(self, path: str, **query: Any) -> str:
        """An absolute URL of this channel (Twilio signs its requests against it)."""
        return self.deps.public_url.rstrip("/") + path + (f"?{urlencode(query)}" if query else "")

    async def authenticate(
        self, path: str, query_string: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, str] | Mapping[str, Any]:
        """The request's form when Twilio signed it; otherwise the HTTP status and text to answer."""
        if len(body) > self.deps.max_body_bytes:
            return 413, "body too large"
        signature = headers.get(SIGNATURE_HEADER)
        if not signature:
            logger.warning("Unsigned voice webhook call refused")
            return 403, "forbidden"
        params = parse_form(body)
        if params is None:
            return 400, "malformed form"
        if not self.is_authentic(path, query_string, params, signature):
            logger.warning("Voice webhook call with a wrong signature refused")
            return 403, "forbidden"
        return params

    async def handle(
        self, path: str, query_string: str, headers: Mapping[str, str], body: bytes, on_new_message: OnNewMessage
    ) -> tuple[int, str]:
        """Answer one turn of a call: (HTTP status, TwiML or error text)."""
        checked = await self.authenticate(path, query_string, headers, body)
        if isinstance(checked, tuple):
            return checked
        call_sid, number = _first(checked, "CallSid"), _first(checked, "From")
        turn_text = (parse_qs(query_string).get("turn") or ["0"])[0]
        if not call_sid or not number or not turn_text.isdigit() or int(turn_text) > MAX_TURNS:
            return 400, "CallSid, From and a valid turn are required"
        turn = int(turn_text)
        sender_id = voice_sender_id(self.deps.identity_secret, caller_key(number, call_sid))
        try:
            first = await self.deps.turns.claim(call_sid, turn, sender_id)
        except Exception:  # noqa: BLE001 - the caller is on the line: a rare duplicate beats silence
            logger.exception("Voice turns unavailable; answering %s/%s without deduplication", call_sid, turn)
            first = True
        if not first:
            logger.info("Voice turn %s/%s already answered", call_sid, turn)
            return 200, await self.repeated(call_sid, turn)
        heard = Heard(
            _first(checked, "SpeechResult").strip(),
            _first(checked, "Digits").strip(),
            confidence_of(_first(checked, "Confidence")),
            number,
        )
        this_turn = Turn(call_sid, turn, sender_id)
        try:
            previous = await self.deps.turns.get(call_sid, turn - 1) if turn > 0 else None
            answered = await self.answer(this_turn, heard, previous, on_new_message)
        except Exception:  # noqa: BLE001 - the caller hears an honest answer and may try again
            logger.exception("A voice turn could not be answered")
            answered = self.listen(this_turn, [self.deps.notices.unavailable], misses=0)
        try:
            await self.deps.turns.finish(answered)
        except Exception:  # noqa: BLE001 - the answer is still given; only a repeat of this turn is not recognised
            logger.exception("The answer of voice turn %s/%s could not be stored", call_sid, turn)
        return 200, answered.twiml or ""

    async def repeated(self, call_sid: str, turn: int) -> str:
        """The TwiML of a turn already answered (or being answered: wait for it)."""
        deadline = time.monotonic() + self.deps.repeat_wait_seconds
        while True:
            known = await self.deps.turns.get(call_sid, turn)
            if known is not None and known.twiml:
                return known.twiml
            if time.monotonic() >= deadline:
                return twiml.gather([self.deps.notices.voice_repeat], self.next_url(turn), self.deps.voice)
            await asyncio.sleep(0.2)

    def next_url(self, turn: int) -> str:
        """Where the next turn's answer goes."""
        return self.url(WEBHOOK_PATH, turn=turn + 1)

    async def answer(self, turn: Turn, heard: Heard, previous: Turn | None, on_new_message: OnNewMessage) -> Turn:
        """This turn's TwiML and state, from what the caller said and what the previous turn asked."""
        misses = previous.misses if previous else 0
        if turn.turn == 0:
            return await self.ask_assistant(turn, GREET_PAYLOAD, None, 0, on_new_message, heard.number)
        if previous is not None and previous.offer in (CONFIRM, SWITCHBOARD, TEXT_REFERENCE):
            answer = yes_or_no(heard.speech, heard.digits)
            if previous.offer == TEXT_REFERENCE:
                if answer.yes and previous.pending:
                    return await self.text_reference(turn, previous.pending, heard.number)
                if answer.no:
                    return self.listen(turn, [self.deps.notices.voice_sms_declined], misses=0)
            elif previous.offer == SWITCHBOARD:
                if answer.yes:
                    return await self.ask_assistant(turn, HANDOFF_PAYLOAD, None, 0, on_new_message, heard.number)
                if answer.no:
                    return self.listen(turn, [self.deps.notices.voice_switchboard_declined], misses=0)
                if not heard.speech and not heard.digits:
                    return self.hang_up(turn, [self.deps.notices.voice_goodbye])
            elif answer.yes and previous.pending:
                return await self.ask_assistant(turn, previous.pending, None, 0, on_new_message, heard.number)
            elif answer.no:
                return self.missed(turn, misses + 1, self.deps.notices.voice_repeat)
        offer = await self.deps.stores.offers.recall(turn.sender_id)
        choice = choice_of(heard.speech, heard.digits, offer.menu if offer else [])
        if choice is not None:
            payload = choice.payload
            return await self.ask_assistant(turn, payload, heard.confidence, misses, on_new_message, heard.number)
        if heard.digits:  # a key that offers nothing
            return self.missed(turn, misses + 1, self.deps.notices.voice_repeat)
        if not heard.speech:
            return self.missed(turn, misses + 1, self.deps.notices.voice_not_heard)
        if heard.confidence is not None and heard.confidence < self.deps.min_confidence:
            confirm = self.deps.notices.render("voice_confirm", heard=heard.speech)
            return replace(self.listen(turn, [confirm], misses=misses), pending=heard.speech, offer=CONFIRM)
        return await self.ask_assistant(turn, heard.speech, heard.confidence, misses, on_new_message, heard.number)

    def listen(self, turn: Turn, sayings: list[str], *, misses: int) -> Turn:
        """Say something and gather the next turn."""
        return replace(turn, twiml=twiml.gather(sayings, self.next_url(turn.turn), self.deps.voice), misses=misses)

    def hang_up(self, turn: Turn, sayings: list[str]) -> Turn:
        """Say something and end the call."""
        return replace(turn, twiml=twiml.say_and_hang_up(sayings, self.deps.voice))

    def missed(self, turn: Turn, misses: int, notice: str, sayings: list[str] | None = None) -> Turn:
        """One more misunderstanding: ask again, or after two in a row offer the switchboard."""
        said = list(sayings or [])
        if misses >= MISSES_BEFORE_SWITCHBOARD:
            said.append(self.deps.notices.voice_offer_switchboard)
            return replace(self.listen(turn, said, misses=misses), offer=SWITCHBOARD)
        return self.listen(turn, [*said, notice] if not said else said, misses=misses)

    async def ask_assistant(
        self,
        turn: Turn,
        text: str,
        confidence: float | None,
        misses: int,
        on_new_message: OnNewMessage,
        number: str = "",
    ) -> Turn:
        """Hand the caller's words to the assistant and turn its answer into this turn's TwiML."""
        notices = self.deps.notices
        if text != GREET_PAYLOAD and text != HANDOFF_PAYLOAD:
            screened = await self.deps.guard.screen(turn.sender_id, text)
            if screened.verdict is Verdict.RATE_LIMITED:
                return self.hang_up(turn, [notices.rate_limited])
            if screened.verdict is not Verdict.PASS:
                return self.missed(turn, misses + 1, notices.voice_repeat)
            text = screened.text
        collector = VoiceCollector()
        metadata: dict[str, Any] = {"channel": "voice"}
        if confidence is not None:
            metadata["speech_confidence"] = round(confidence, 3)
        message = UserMessage(
            text,
            collector,
            turn.sender_id,
            input_channel=VoiceInput.name(),
            message_id=f"{turn.call_sid}:{turn.turn}",
            metadata=metadata,
        )
        try:
            await on_new_message(message)
        except Exception:  # noqa: BLE001 - the caller must hear something whatever failed
            logger.exception("The assistant failed on a voice turn")
            return self.listen(turn, [notices.unavailable], misses=misses)
        # Always recorded: a digit refers to the menu of the last answer, or to none.
        await self.deps.stores.offers.remember(turn.sender_id, collector.menu)
        spoken = spoken_answer(collector.messages, notices)
        if spoken.transfer:
            return self.transfer(turn, spoken)
        if spoken.hang_up:
            return self.hang_up(turn, spoken.sayings or [notices.voice_goodbye])
        if spoken.misunderstood:
            return self.missed(turn, misses + 1, notices.voice_repeat, spoken.sayings)
        if spoken.reference and self.deps.references is not None and is_french_mobile(number):
            offered = self.listen(turn, [*spoken.sayings, notices.voice_offer_sms], misses=0)
            return replace(offered, offer=TEXT_REFERENCE, pending=spoken.reference)
        return self.listen(turn, spoken.sayings or [notices.voice_repeat], misses=0)

    async def text_reference(self, turn: Turn, reference: str, number: str) -> Turn:
        """The caller said yes: their SMS identity follows the ticket and the reference is queued by SMS."""
        assert self.deps.references is not None
        try:
            await self.deps.references.send(reference, number)
        except Exception:  # noqa: BLE001 - the caller heard the reference twice; say the SMS failed, go on
            logger.exception("The reference of a phone report could not be queued by SMS")
            return self.listen(turn, [self.deps.notices.voice_sms_failed], misses=0)
        return self.listen(turn, [self.deps.notices.voice_sms_queued], misses=0)

    def transfer(self, turn: Turn, spoken: Spoken) -> Turn:
        """Put the caller through to the switchboard; the agent first hears the topic."""
        number = self.deps.transfer_number
        if not number:
            logger.warning("A caller asked for the switchboard but VOICE_TRANSFER_NUMBER is not set")
            return self.hang_up(turn, [*spoken.sayings, self.deps.notices.voice_transfer_unavailable])
        whisper = self.url(WHISPER_PATH, call=turn.call_sid, turn=turn.turn)
        after = self.url(AFTER_TRANSFER_PATH)
        done = replace(turn, twiml=twiml.dial(spoken.sayings, number, whisper, after, self.deps.voice), misses=0)
        return replace(done, topic=spoken.transfer_topic)

    async def whisper(self, path: str, query_string: str, headers: Mapping[str, str], body: bytes) -> tuple[int, str]:
        """What the switchboard agent hears before the call is connected: the topic of the transferred call."""
        checked = await self.authenticate(path, query_string, headers, body)
        if isinstance(checked, tuple):
            return checked
        query = parse_qs(query_string)
        call_sid, turn_text = (query.get("call") or [""])[0], (query.get("turn") or [""])[0]
        if not call_sid or not turn_text.isdigit():
            return 400, "call and turn are required"
        known = await self.deps.turns.get(call_sid, int(turn_text))
        notices = self.deps.notices
        topic = known.topic if known else None
        said = notices.render("voice_whisper", topic=topic) if topic else notices.voice_whisper_plain
        return 200, twiml.say_only([said], self.deps.voice)

    async def transfer_ended(
        self, path: str, query_string: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, str]:
        """After a transfer: the call ends if someone answered; otherwise the caller is told to call back later."""
        checked = await self.authenticate(path, query_string, headers, body)
        if isinstance(checked, tuple):
            return checked
        if _first(checked, "DialCallStatus") in CONNECTED:
            return 200, twiml.say_and_hang_up([], self.deps.voice)
        return 200, twiml.say_and_hang_up([self.deps.notices.voice_transfer_no_answer], self.deps.voice)

    async def status(self, path: str, query_string: str, headers: Mapping[str, str], body: bytes) -> tuple[int, str]:
        """Twilio's call status callback: acknowledged (and logged without the number)."""
        checked = await self.authenticate(path, query_string, headers, body)
        if isinstance(checked, tuple):
            return checked
        logger.info("Call %s is %s", _first(checked, "CallSid"), _first(checked, "CallStatus") or "unknown")
        return 200, twiml.empty()


class VoiceInput(InputChannel):
    """Rasa input channel for phone calls through Twilio (credentials.yml: connectors.voice.VoiceInput)."""

    @classmethod
    def name(cls) -> str:
        """The channel name: URL prefix, `input_channel` of messages, `channel: voice` response variants."""
        return "voice"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Options from credentials.yml; secrets default to the TWILIO_* and VOICE_* settings."""
        return cls(**(credentials or {}))

    @classmethod
    async def register_webhook(cls, settings: Settings) -> str | None:
        """`python -m bot set-webhooks`: point the Twilio number's calls at PUBLIC_URL; None when not configured."""
        if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from_number):
            return None
        return await set_voice_webhook(
            settings.public_url, settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_from_number
        )

    def __init__(
        self,
        auth_token: str | None = None,
        voice_name: str | None = None,
        transfer_number: str | None = None,
        notices: dict[str, str] | None = None,
        deps: VoiceDeps | None = None,
        settings: Settings | None = None,
    ) -> None:
        self._auth_token = auth_token
        self._voice_name = voice_name
        self._transfer_number = transfer_number
        self._notice_overrides = notices or {}
        self._deps = deps
        self._settings = settings
        self._webhook: VoiceWebhook | None = None

    def deps(self) -> VoiceDeps:
        """The channel's dependencies, built from settings on first use (at server start-up)."""
        if self._deps is None:
            settings = self._settings or get_settings()
            auth_token = self._auth_token or settings.twilio_auth_token
            if not auth_token:
                logger.warning("Twilio is not configured: the phone channel will refuse every call")
            stores = open_channel_stores(settings.effective_database_url)
            assert stores.engine is not None
            secret = load_identity_secret(settings.identity_secret, settings.var_dir)
            self._deps = VoiceDeps(
                stores=stores,
                turns=SqlTurnStore(stores.engine),
                guard=Guard(
                    stores.offers, SlidingWindowRateLimiter(settings.rate_limit_per_minute), settings.max_message_chars
                ),
                notices=load_notices(ROOT / "domain.yml", self._notice_overrides),
                auth_token=auth_token,
                public_url=settings.public_url,
                identity_secret=secret,
                max_body_bytes=settings.max_body_bytes,
                voice=twiml.Voice(self._voice_name or settings.voice_name),
                transfer_number=self._transfer_number or settings.voice_transfer_number,
                min_confidence=settings.voice_min_confidence,
                references=OutboxReferenceTexts(store_from_settings(settings), stores.identities, secret),
            )
        return self._deps

    def webhook(self) -> VoiceWebhook:
        """The webhook handler (one per channel)."""
        if self._webhook is None:
            self._webhook = VoiceWebhook(self.deps())
        return self._webhook

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """The call webhook, the agent's whisper, the end of a transfer, the status callback (and a health check)."""
        webhook = self.webhook()
        voice_webhook = Blueprint("voice_webhook", __name__)

        @voice_webhook.listener("before_server_start")
        async def reset_connections(*_: Any) -> None:
            dispose_after_fork(webhook.deps.stores)

        @voice_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        def reply(status: int, body: str) -> HTTPResponse:
            return response.text(body, status=status, content_type="text/xml" if status == 200 else "text/plain")

        @voice_webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return reply(
                *await webhook.handle(
                    request.path, request.query_string, request.headers, request.body or b"", on_new_message
                )
            )

        @voice_webhook.route("/whisper", methods=["POST"])
        async def whisper(request: Request) -> HTTPResponse:
            return reply(*await webhook.whisper(request.path, request.query_string, request.headers, request.body))

        @voice_webhook.route("/transfer-ended", methods=["POST"])
        async def transfer_ended(request: Request) -> HTTPResponse:
            return reply(
                *await webhook.transfer_ended(request.path, request.query_string, request.headers, request.body)
            )

        @voice_webhook.route("/status", methods=["POST"])
        async def status(request: Request) -> HTTPResponse:
            return reply(*await webhook.status(request.path, request.query_string, request.headers, request.body))

        return voice_webhook

    def get_output_channel(self) -> CollectingOutputChannel:
        """A phone call cannot be reached later: notifications to it are collected and dropped."""
        return VoiceCollector()
