"""REST channel (local testing, scripts, benchmarks): Rasa's `/webhooks/rest/webhook` protocol with Guichet's guard.

Same path, request (`{"sender": "...", "message": "...", "metadata": {...}}`) and answer (a JSON list of bot
messages) as Rasa's `rest:` channel, which answers 500 or nothing to bad input. Here: a body that is not a JSON
object, too big, or with a sender or message of the wrong type gets a 4xx; an empty, too long or control-character
text gets the channel's French notice; an `/intent{...}` text is honoured only when it is a button just offered to
this sender; when the assistant fails (action server or conversation store down) the citizen is told the service
is momentarily unavailable. One sender's messages are handled one at a time, in arrival order. No rate limit: the
channel is for scripts and benchmarks.

The caller chooses the sender, so the channel must not let it speak as a citizen of another channel: a sender with
another channel's prefix (`telegram:`, `sms:`, `webchat:`, `voice:`) is refused with a 403, and every conversation
is stored as `rest:<sender>` (the answer still names the sender as sent). Callers on the loopback interface are
answered as they are; any other caller, and any request that came through a proxy (forwarded headers), must
present `Authorization: Bearer <REST_TOKEN>`, and is refused when REST_TOKEN is unset.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.shared.channel_stores import ChannelStores, dispose_after_fork
from connectors.shared.guard import CONTROL_CHARACTERS, Guard, SlidingWindowRateLimiter, Verdict
from connectors.shared.notices import Notices, load_notices
from connectors.shared.offers import OfferStore, buttons_from_rasa
from connectors.shared.sender_lanes import SenderLanes
from connectors.shared.senders import REST_PREFIX, claims_proven_channel

logger = logging.getLogger(__name__)

MAX_SENDER_CHARS = 255 - len(REST_PREFIX)  # the stored sender id fits Rasa's 255-character column
DEFAULT_SENDER = "default"  # Rasa's REST channel uses it when the body names no sender
NOTICE_FOR_VERDICT = {Verdict.EMPTY: "empty", Verdict.TOO_LONG: "too_long", Verdict.RATE_LIMITED: "rate_limited"}
# Headers a reverse proxy adds: a request carrying one came from outside, whatever the socket's address.
FORWARDED_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")
BEARER = "bearer "

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class BadRequest(ValueError):
    """The body cannot be a REST message; the text says why (sent back with a 400)."""


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the socket's peer address and the headers that matter for trust."""

    peer: str
    headers: Mapping[str, str]

    @property
    def is_local(self) -> bool:
        """A process on this machine talking directly (loopback, no proxy in between)."""
        try:
            address = ipaddress.ip_address(self.peer)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return address.is_loopback and not any(self.headers.get(name) for name in FORWARDED_HEADERS)

    def presents(self, token: str) -> bool:
        """Whether the request carries `Authorization: Bearer <token>`."""
        authorization = self.headers.get("authorization") or ""
        if not authorization.lower().startswith(BEARER):
            return False
        return hmac.compare_digest(authorization[len(BEARER) :].strip().encode(), token.encode())


LOCAL_CALLER = Caller("127.0.0.1", {})


def refusal(caller: Caller, token: str | None) -> tuple[int, dict[str, str]] | None:
    """Why a caller may not use the channel (HTTP status and body), or None when it may."""
    if caller.is_local:
        return None
    if not token:
        return 403, {"error": "the REST channel answers local callers only (REST_TOKEN is not set)"}
    if not caller.presents(token):
        return 401, {"error": "a valid 'Authorization: Bearer <REST_TOKEN>' header is required"}
    return None


def conversation_id(sender: str) -> str:
    """The sender id a REST conversation is stored under."""
    return REST_PREFIX + sender


@dataclass(frozen=True)
class RestMessage:
    """A well-formed REST request."""

    sender: str
    text: str | None
    metadata: dict[str, Any] | None


def parse_body(body: bytes) -> RestMessage:
    """The sender, text and metadata of a REST request body; BadRequest when it is not one."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest("the body must be a JSON object") from error
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    sender = data.get("sender", DEFAULT_SENDER)
    if isinstance(sender, int) and not isinstance(sender, bool):
        sender = str(sender)
    if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
        raise BadRequest(f"sender must be a non-empty string of at most {MAX_SENDER_CHARS} characters")
    if CONTROL_CHARACTERS.search(sender):
        raise BadRequest("sender must not contain control characters")
    text = data.get("message")
    if text is not None and not isinstance(text, str):
        raise BadRequest("message must be a string")
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest("metadata must be a JSON object")
    return RestMessage(sender.strip(), text, metadata)


class OfferingCollector(CollectingOutputChannel):
    """Collects the answer for the HTTP response and remembers the buttons offered (so their payloads pass)."""

    def __init__(self, offers: OfferStore) -> None:
        super().__init__()
        self.offers = offers

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        """Remember the payloads as offered, then collect the message."""
        await self.offers.remember(recipient_id, buttons_from_rasa(buttons))
        await super().send_text_with_buttons(recipient_id, text, buttons, **kwargs)


class RestHandler:
    """Screens, orders and hands on REST messages; always answers a JSON list or a 4xx."""

    def __init__(self, guard: Guard, notices: Notices, max_body_bytes: int, token: str | None = None) -> None:
        self.guard = guard
        self.notices = notices
        self.max_body_bytes = max_body_bytes
        self.token = token
        self.lanes = SenderLanes()

    async def handle(self, body: bytes, on_new_message: OnNewMessage, caller: Caller = LOCAL_CALLER) -> tuple[int, Any]:
        """Answer one POST: (HTTP status, JSON body)."""
        refused = refusal(caller, self.token)
        if refused is not None:
            return refused
        if len(body) > self.max_body_bytes:
            return 413, {"error": f"body larger than {self.max_body_bytes} bytes"}
        try:
            message = parse_body(body)
        except BadRequest as error:
            return 400, {"error": str(error)}
        if claims_proven_channel(message.sender):
            return 403, {"error": "the sender names a conversation of another channel"}
        answer: list[dict[str, Any]] = []

        async def work() -> None:
            answer.extend(await self.answer(message, on_new_message))

        await asyncio.shield(self.lanes.submit(conversation_id(message.sender), work))
        return 200, answer

    async def answer(self, message: RestMessage, on_new_message: OnNewMessage) -> list[dict[str, Any]]:
        """The bot messages for one well-formed request (a notice when the text is refused or the assistant fails)."""
        collector = OfferingCollector(self.guard.offers)
        stored_as = conversation_id(message.sender)
        try:
            screened = await self.guard.screen(stored_as, message.text, count=False)
            if screened.verdict is not Verdict.PASS:
                return [self.notice(message.sender, NOTICE_FOR_VERDICT[screened.verdict])]
            await on_new_message(
                UserMessage(
                    screened.text,
                    collector,
                    stored_as,
                    input_channel=RestInput.name(),
                    metadata=message.metadata,
                )  # fmt: skip
            )
        except Exception:  # noqa: BLE001 - the citizen must get an answer whatever failed
            logger.exception("A REST message could not be handled")
            return [*self.addressed(collector, message), self.notice(message.sender, "unavailable")]
        return self.addressed(collector, message)

    @staticmethod
    def addressed(collector: CollectingOutputChannel, message: RestMessage) -> list[dict[str, Any]]:
        """The collected bot messages, addressed to the sender as the caller named it."""
        return [{**bot_message, "recipient_id": message.sender} for bot_message in collector.messages]

    def notice(self, sender: str, field: str) -> dict[str, Any]:
        """One of the channel's own answers, shaped like a bot message."""
        return {"recipient_id": sender, "text": self.notices.render(field, max_chars=self.guard.max_chars)}


class RestInput(InputChannel):
    """Rasa input channel `rest` (declared in credentials.yml as connectors.rest.RestInput)."""

    @classmethod
    def name(cls) -> str:
        """Keeps Rasa's name, hence the `/webhooks/rest/webhook` path and `input_channel` "rest"."""
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Options from credentials.yml (`notices:` overrides); the rest from the settings at start-up."""
        return cls(notice_overrides=(credentials or {}).get("notices"))

    def __init__(self, notice_overrides: dict[str, str] | None = None, handler: RestHandler | None = None) -> None:
        self._notice_overrides = notice_overrides or {}
        self._handler = handler
        self._stores: ChannelStores | None = None

    def handler(self) -> RestHandler:
        """The request handler, built from the settings on first use (at server start-up)."""
        if self._handler is None:
            from bot.settings import ROOT, get_settings
            from connectors.shared.channel_stores import open_channel_stores

            settings = get_settings()
            stores = self._stores = open_channel_stores(settings.effective_database_url)
            guard = Guard(stores.offers, SlidingWindowRateLimiter(settings.rate_limit_per_minute),
                          settings.max_message_chars)  # fmt: skip
            notices = load_notices(ROOT / "domain.yml", self._notice_overrides)
            self._handler = RestHandler(guard, notices, settings.max_body_bytes, settings.rest_token)
        return self._handler

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """`GET /webhooks/rest/` (health) and `POST /webhooks/rest/webhook`."""
        handler = self.handler()
        rest_webhook = Blueprint("custom_webhook_RestInput", __name__)

        @rest_webhook.listener("before_server_start")
        async def reset_connections(*_: Any) -> None:
            if self._stores is not None:
                dispose_after_fork(self._stores)

        @rest_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @rest_webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            caller = Caller(request.ip or "", request.headers)
            status, body = await handler.handle(request.body or b"", on_new_message, caller)
            return response.json(body, status=status)

        return rest_webhook
