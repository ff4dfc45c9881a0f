"""SMS channel (Twilio): `POST /webhooks/sms/webhook`, signed by Twilio, acknowledged at once, answered by REST."""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request, RequestParameters
from sanic.response import HTTPResponse
from twilio.http import HttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.clock import naive_utc_now
from bot.settings import ROOT, Settings, get_settings
from connectors.shared.channel_stores import ChannelStores, dispose_after_fork, open_channel_stores
from connectors.shared.deliveries import is_first_delivery
from connectors.shared.guard import Guard, SlidingWindowRateLimiter, Verdict
from connectors.shared.identities import load_identity_secret, normalise_number, sms_sender_id
from connectors.shared.notices import Notices, load_notices
from connectors.shared.offers import is_fresh
from connectors.shared.sender_lanes import SenderLanes
from connectors.sms.output import SmsOutput, SmsSender, TwilioSender
from connectors.sms.rendering import SmsRenderer, menu_choice

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
WEBHOOK_PATH = "/webhooks/sms/webhook"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
STOP_WORDS = {"stop", "arret"}
START_WORDS = {"start"}
HELP_WORDS = {"aide"}
MORE_WORDS = {"suite"}
# STOP inside a short message: a stop word, and nothing but courtesy and "the SMS" around it (« stop merci »,
# « arrêtez les sms », « STOP SVP »). Any other word ("panneau stop tombé", "STOP les bruits de la rue") means
# the message is about something else, and it goes to the assistant.
STOP_VERBS = STOP_WORDS | {"arrete", "arretez", "arreter", "stoppez", "stopper"}
STOP_COMPANIONS = {
    "merci", "svp", "stp", "s", "il", "vous", "te", "plait", "please", "les", "des", "vos", "tous", "tout", "sms",
    "messages", "message", "notifications", "textos", "de", "d", "m", "me", "envoyer", "ecrire", "plus", "ne", "pas",
    "bonjour", "bjr", "ok", "oui", "maintenant", "desormais",
}  # fmt: skip
MAX_STOP_WORDS = 6
MAX_MEDIA = 10
NOTICE_FOR_VERDICT = {Verdict.EMPTY: "empty", Verdict.TOO_LONG: "too_long", Verdict.RATE_LIMITED: "rate_limited"}

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


def keyword_of(text: str) -> str:
    """The text as a possible keyword: alone, any case, without accents or final punctuation ("Arrêt." → "arret")."""
    bare = unicodedata.normalize("NFD", text.strip().rstrip(".!").strip().casefold())
    return "".join(c for c in bare if not unicodedata.combining(c))


def opt_out_word(text: str) -> str | None:
    """ "stop" for an opt-out (the keyword alone, or inside a short message of courtesy words), "start" for START,
    else None."""
    keyword = keyword_of(text)
    if keyword in STOP_WORDS:
        return "stop"
    if keyword in START_WORDS:
        return "start"
    words = [w for w in re.split(r"[^a-z]+", keyword) if w]
    if not words or len(words) > MAX_STOP_WORDS or not STOP_VERBS & set(words):
        return None
    return "stop" if all(w in STOP_VERBS or w in STOP_COMPANIONS for w in words) else None


def media_of(params: Mapping[str, Any]) -> list[dict[str, str]]:
    """MMS attachments (MediaUrlN, MediaContentTypeN) as metadata for reports."""
    try:
        count = min(int(_first(params, "NumMedia") or 0), MAX_MEDIA)
    except ValueError:
        return []
    media = []
    for index in range(count):
        url = _first(params, f"MediaUrl{index}")
        if url:
            media.append({"url": url, "content_type": _first(params, f"MediaContentType{index}") or ""})
    return media


def _first(params: Mapping[str, Any], key: str) -> str | None:
    value = params.get(key)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def parse_form(body: bytes) -> RequestParameters | None:
    """A urlencoded form as Twilio's validator expects it, or None when it is not one."""
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        return None
    return RequestParameters(fields)


async def set_sms_webhook(
    public_url: str, account_sid: str, auth_token: str, from_number: str, *, http_client: HttpClient | None = None
) -> str:
    """Point the Twilio number's incoming-SMS webhook at this server; returns the webhook URL."""
    url = public_url.rstrip("/") + WEBHOOK_PATH

    def update() -> None:
        client = Client(account_sid, auth_token, http_client=http_client)
        numbers = client.incoming_phone_numbers.list(phone_number=from_number, limit=1)
        if not numbers:
            raise LookupError(f"{from_number} is not a number of this Twilio account")
        client.incoming_phone_numbers(numbers[0].sid).update(sms_url=url, sms_method="POST")

    await asyncio.to_thread(update)
    return url


@dataclass
class SmsDeps:
    """Everything the SMS webhook works with."""

    sender: SmsSender | None
    stores: ChannelStores
    guard: Guard
    notices: Notices
    renderer: SmsRenderer
    auth_token: str | None
    public_url: str
    identity_secret: bytes
    max_body_bytes: int
    reply_attempts: int = 3
    menu_max_age: timedelta = timedelta(hours=12)


class SmsWebhook:
    """Authenticates, deduplicates and acknowledges Twilio webhooks, then answers in the background."""

    def __init__(self, deps: SmsDeps) -> None:
        self.deps = deps
        self.lanes = SenderLanes()

    def output(self, *, buffered: bool, attempts: int = 1) -> SmsOutput:
        """An SMS output channel on this webhook's stores."""
        if self.deps.sender is None:
            raise RuntimeError(
                "SMS sending is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER)"
            )
        stores = self.deps.stores
        return SmsOutput(
            self.deps.sender,
            stores.identities,
            stores.optouts,
            stores.offers,
            self.deps.renderer,
            buffered=buffered,
            attempts=attempts,
            continuations=stores.continuations,
        )

    def is_authentic(self, path: str, query_string: str, params: RequestParameters, signature: str) -> bool:
        """Whether Twilio signed this request for our public URL (always False without an auth token)."""
        if not self.deps.auth_token:
            return False
        url = self.deps.public_url.rstrip("/") + path + (f"?{query_string}" if query_string else "")
        return RequestValidator(self.deps.auth_token).validate(url, params, signature)

    async def handle(
        self, path: str, query_string: str, headers: Mapping[str, str], body: bytes, on_new_message: OnNewMessage
    ) -> tuple[int, str]:
        """Answer one webhook call: (HTTP status, TwiML or error text)."""
        if len(body) > self.deps.max_body_bytes:
            return 413, "body too large"
        signature = headers.get(SIGNATURE_HEADER)
        if not signature:
            logger.warning("Unsigned SMS webhook call refused")
            return 403, "forbidden"
        params = parse_form(body)
        if params is None:
            return 400, "malformed form"
        if not self.is_authentic(path, query_string, params, signature):
            logger.warning("SMS webhook call with a wrong signature refused")
            return 403, "forbidden"
        message_sid, number = _first(params, "MessageSid"), _first(params, "From")
        if not message_sid or not number:
            return 400, "MessageSid and From are required"
        if not await is_first_delivery(self.deps.stores.deliveries, "sms", message_sid):
            logger.info("SMS %s already processed", message_sid)
            return 200, EMPTY_TWIML
        sender_id = sms_sender_id(self.deps.identity_secret, number)
        self.lanes.submit(sender_id, lambda: self.process(sender_id, normalise_number(number), params, on_new_message))
        return 200, EMPTY_TWIML

    async def process(
        self, sender_id: str, number: str, params: Mapping[str, Any], on_new_message: OnNewMessage
    ) -> None:
        """Hand one accepted SMS to the assistant (or answer it directly) and send the answer."""
        await self.deps.stores.identities.remember(sender_id, number)
        output = self.output(buffered=True, attempts=self.deps.reply_attempts)
        text = _first(params, "Body") or ""
        keyword = keyword_of(text)
        opt_out = opt_out_word(text)
        if opt_out is not None:
            await self._set_opt_out(output, sender_id, opted_out=opt_out == "stop")
            return
        if not self.deps.guard.allow(sender_id):
            if self.deps.guard.should_warn(sender_id):  # one warning per window: a flood must not cost a flood of SMS
                await self.notify(output, sender_id, "rate_limited")
            return
        if keyword in MORE_WORDS:  # a channel word: the next part of the last long answer, never the assistant
            if not await output.deliver_next(sender_id):
                await self.notify(output, sender_id, "sms_nothing_more")
            return
        media = media_of(params)
        handed_on, notice = await self._text_for(sender_id, text, keyword, bool(media))
        if handed_on is None:
            await self.notify(output, sender_id, notice)
            return
        metadata: dict[str, Any] = {"channel": "sms", **({"media": media} if media else {})}
        message_id = _first(params, "MessageSid")
        message = UserMessage(
            handed_on, output, sender_id, input_channel=SmsInput.name(), message_id=message_id, metadata=metadata
        )
        try:
            await on_new_message(message)
        except Exception:
            logger.exception("The assistant failed on an SMS")
            await output.send_text_message(sender_id, self.deps.notices.render("unavailable"))
        await output.flush()

    async def _set_opt_out(self, output: SmsOutput, sender_id: str, *, opted_out: bool) -> None:
        """STOP / START: store the choice and confirm it (the one SMS sent despite an opt-out: a second STOP is
        not confirmed again)."""
        already = await self.deps.stores.optouts.is_opted_out(sender_id)
        await self.deps.stores.optouts.set_opted_out(sender_id, opted_out)
        if opted_out:
            await output.forget_rest(sender_id)
            if already:
                return
        notice = "sms_opted_out" if opted_out else "sms_opted_in"
        await output.deliver(sender_id, self.deps.notices.render(notice), [], despite_opt_out=True)

    async def _text_for(self, sender_id: str, text: str, keyword: str, has_media: bool) -> tuple[str | None, str]:
        """The text to hand on, or None and the notice the citizen gets instead."""
        if keyword in HELP_WORDS:
            return "/help", ""
        offer = await self.deps.stores.offers.recall(sender_id)
        if is_fresh(offer, self.deps.menu_max_age, naive_utc_now()):
            choice = menu_choice(text, offer.menu)  # type: ignore[union-attr]
            if choice is not None:
                text = choice.payload
        screened = await self.deps.guard.screen(sender_id, text, count=False)
        if screened.verdict is Verdict.EMPTY and has_media:
            return self.deps.notices.photo_text, ""
        if screened.verdict is not Verdict.PASS:
            return None, NOTICE_FOR_VERDICT[screened.verdict]
        return screened.text, ""

    async def notify(self, output: SmsOutput, sender_id: str, notice: str) -> None:
        """Send one of the channel's own notices."""
        await output.deliver(sender_id, self.deps.notices.render(notice, max_chars=self.deps.guard.max_chars), [])


class SmsInput(InputChannel):
    """Rasa input channel for SMS through Twilio (declared in credentials.yml as connectors.sms.SmsInput)."""

    @classmethod
    def name(cls) -> str:
        """The channel name: URL prefix, `input_channel` of messages, `output_channel` of notifications."""
        return "sms"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Options from credentials.yml; secrets default to the TWILIO_* settings."""
        return cls(**(credentials or {}))

    @classmethod
    async def register_webhook(cls, settings: Settings) -> str | None:
        """`python -m bot set-webhooks`: point the Twilio number at PUBLIC_URL; None when not configured."""
        if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from_number):
            return None
        return await set_sms_webhook(
            settings.public_url, settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_from_number
        )

    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        max_segments: int = 3,
        fold_accents: bool = True,
        notices: dict[str, str] | None = None,
        deps: SmsDeps | None = None,
        settings: Settings | None = None,
    ) -> None:
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._from_number = from_number
        self._messaging_service_sid = messaging_service_sid
        self._max_segments = max_segments
        self._fold_accents = fold_accents
        self._notice_overrides = notices or {}
        self._deps = deps
        self._settings = settings
        self._webhook: SmsWebhook | None = None

    def deps(self) -> SmsDeps:
        """The channel's dependencies, built from settings on first use (at server start-up)."""
        if self._deps is None:
            settings = self._settings or get_settings()
            account_sid = self._account_sid or settings.twilio_account_sid
            auth_token = self._auth_token or settings.twilio_auth_token
            from_number = self._from_number or settings.twilio_from_number
            sender = None
            if account_sid and auth_token and (from_number or self._messaging_service_sid):
                sender = TwilioSender(account_sid, auth_token, from_number, self._messaging_service_sid)
            else:
                logger.warning("Twilio is not configured: the SMS channel will refuse every call")
            stores = open_channel_stores(settings.effective_database_url)
            notices = load_notices(ROOT / "domain.yml", self._notice_overrides)
            self._deps = SmsDeps(
                sender=sender,
                stores=stores,
                guard=Guard(
                    stores.offers, SlidingWindowRateLimiter(settings.rate_limit_per_minute), settings.max_message_chars
                ),
                notices=notices,
                renderer=SmsRenderer(notices, self._max_segments, self._fold_accents),
                auth_token=auth_token if sender is not None else None,
                public_url=settings.public_url,
                identity_secret=load_identity_secret(settings.identity_secret, settings.var_dir),
                max_body_bytes=settings.max_body_bytes,
            )
        return self._deps

    def webhook(self) -> SmsWebhook:
        """The webhook handler (one per channel, so its sender lanes are shared)."""
        if self._webhook is None:
            self._webhook = SmsWebhook(self.deps())
        return self._webhook

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """The webhook route (and a health check)."""
        webhook = self.webhook()
        sms_webhook = Blueprint("sms_webhook", __name__)

        @sms_webhook.listener("before_server_start")
        async def reset_connections(*_: Any) -> None:
            dispose_after_fork(webhook.deps.stores)

        @sms_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sms_webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            status, body = await webhook.handle(
                request.path, request.query_string, request.headers, request.body or b"", on_new_message
            )
            content_type = "text/xml" if status == 200 else "text/plain"
            return response.text(body, status=status, content_type=content_type)

        return sms_webhook

    def get_output_channel(self) -> SmsOutput:
        """Where notifications to SMS citizens go: opt-outs honoured, failures raised for the outbox to retry."""
        return self.webhook().output(buffered=False)
