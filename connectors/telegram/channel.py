"""Telegram channel: `POST /webhooks/telegram/webhook`, authenticated by Telegram's secret token header."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import Bot, Update
from telegram.request import BaseRequest, HTTPXRequest

from bot.settings import ROOT, Settings, get_settings
from connectors.shared.channel_stores import ChannelStores, dispose_after_fork, open_channel_stores
from connectors.shared.deliveries import is_first_delivery
from connectors.shared.guard import Guard, SlidingWindowRateLimiter, Verdict, clean_text
from connectors.shared.notices import Notices, load_notices
from connectors.shared.offers import SHORT_KEY_PREFIX, short_key
from connectors.shared.sender_lanes import SenderLanes
from connectors.telegram.output import TelegramApi, TelegramOutput
from connectors.telegram.updates import Kind, TelegramEvent, event_from_update, sender_id_for

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
WEBHOOK_PATH = "/webhooks/telegram/webhook"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
VALID_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
NOTICE_FOR_VERDICT = {Verdict.EMPTY: "empty", Verdict.TOO_LONG: "too_long", Verdict.RATE_LIMITED: "rate_limited"}
TYPING_AFTER_SECONDS = 1.0  # a quick answer needs no typing indicator
TYPING_EVERY_SECONDS = 4.5  # Telegram shows the indicator for 5 s

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


def create_bot(token: str, request: BaseRequest | None = None) -> Bot:
    """A Bot API client on httpx (a fake `request` in tests)."""
    transport = request or HTTPXRequest(connection_pool_size=16, connect_timeout=5.0, read_timeout=10.0)
    return Bot(token, request=transport, get_updates_request=request)


async def set_webhook(public_url: str, secret: str, token: str, *, request: BaseRequest | None = None) -> str:
    """Register this server's webhook and secret with Telegram; returns the webhook URL."""
    if not VALID_SECRET.match(secret):
        raise ValueError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters among A-Z, a-z, 0-9, _ and -")
    url = public_url.rstrip("/") + WEBHOOK_PATH
    if not url.startswith("https://"):
        logger.warning("Telegram only delivers webhooks to https URLs; %s will be refused", url)
    async with create_bot(token, request) as bot:  # checks the token (getMe), closes its connections after
        await bot.set_webhook(url=url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
    return url


@dataclass
class TelegramDeps:
    """Everything the Telegram webhook works with."""

    api: TelegramApi
    stores: ChannelStores
    guard: Guard
    notices: Notices
    webhook_secret: str | None
    max_body_bytes: int


class TelegramWebhook:
    """Authenticates, deduplicates and translates Telegram updates for the assistant."""

    def __init__(self, deps: TelegramDeps) -> None:
        self.deps = deps
        self.lanes = SenderLanes()

    def answers(self) -> TelegramOutput:
        """An output channel for one turn's answers (failures logged, not raised: the turn stays recorded)."""
        return TelegramOutput(self.deps.api, self.deps.stores.offers, raise_errors=False)

    def is_authentic(self, header_value: str | None) -> bool:
        """Whether the secret token header matches (constant time); always False without a secret."""
        secret = self.deps.webhook_secret
        if not secret or header_value is None:
            return False
        return hmac.compare_digest(header_value.encode("utf-8"), secret.encode("utf-8"))

    async def handle(self, headers: Mapping[str, str], body: bytes, on_new_message: OnNewMessage) -> tuple[int, dict]:
        """Answer one webhook call: (HTTP status, JSON body)."""
        if len(body) > self.deps.max_body_bytes:
            return 413, {"error": "body too large"}
        if not self.is_authentic(headers.get(SECRET_HEADER)):
            logger.warning("Telegram webhook call without the right secret token refused")
            return 403, {"error": "forbidden"}
        update = self._parse(body)
        if update is None:
            return 400, {"error": "not a Telegram update"}
        if not await is_first_delivery(self.deps.stores.deliveries, "telegram", str(update.update_id)):
            logger.info("Telegram update %s already processed", update.update_id)
            return 200, {"status": "duplicate"}
        event = event_from_update(update)
        lane = sender_id_for(event.chat_id) if event.chat_id is not None else "telegram:none"
        # In order per chat (Telegram may deliver concurrently); shielded so a dropped connection loses nothing.
        await asyncio.shield(self.lanes.submit(lane, lambda: self.dispatch(event, on_new_message)))
        return 200, {"status": "ok"}

    def _parse(self, body: bytes) -> Update | None:
        try:
            data = json.loads(body)
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                return None
            return Update.de_json(data, self.deps.api.bot)
        except Exception:  # malformed JSON or an update python-telegram-bot cannot read
            logger.info("Malformed Telegram update refused")
            return None

    async def dispatch(self, event: TelegramEvent, on_new_message: OnNewMessage) -> None:
        """Hand the event to the assistant, or answer it directly."""
        if event.kind is Kind.IGNORED or event.chat_id is None:
            return
        sender_id = sender_id_for(event.chat_id)
        if event.callback_query_id is not None:
            await self._answer_callback(event.callback_query_id)
        if not self.deps.guard.allow(sender_id):
            if self.deps.guard.should_warn(sender_id):
                await self.notify(sender_id, "rate_limited")
            return
        text = await self._text_for(event, sender_id)
        if text is None:
            return
        output = self.answers()
        message = UserMessage(
            text,
            output,
            sender_id,
            input_channel=TelegramInput.name(),
            metadata={"channel": "telegram", **event.metadata},
        )
        typing = asyncio.create_task(self._show_typing(event.chat_id))
        try:
            await on_new_message(message)
        except Exception:
            logger.exception("The assistant failed on a Telegram message")
            if not output.failed:
                await self.notify(sender_id, "unavailable")
        finally:
            typing.cancel()

    async def _show_typing(self, chat_id: int) -> None:
        """While a turn takes more than a moment (a report on a busy machine), show the citizen the town is typing."""
        await asyncio.sleep(TYPING_AFTER_SECONDS)
        while True:
            try:
                await self.deps.api.send_typing(chat_id)
            except Exception:
                logger.warning("sendChatAction failed", exc_info=True)
                return
            await asyncio.sleep(TYPING_EVERY_SECONDS)

    async def _text_for(self, event: TelegramEvent, sender_id: str) -> str | None:
        """The text to hand on, or None after answering the citizen directly."""
        if event.kind is Kind.COMMAND:
            return event.text  # an intent the connector itself chose (/start, /aide)
        if event.kind is Kind.UNSUPPORTED:
            await self.notify(sender_id, "unsupported_content")
            return None
        if event.kind is Kind.LOCATION:
            return self.deps.notices.location_text
        if event.kind is Kind.CALLBACK:
            return await self._callback_text(event.text, sender_id)
        screened = await self.deps.guard.screen(sender_id, event.text, count=False)
        if screened.verdict is Verdict.EMPTY and event.kind is Kind.PHOTO:
            return self.deps.notices.photo_text
        if screened.verdict is not Verdict.PASS:
            await self.notify(sender_id, NOTICE_FOR_VERDICT[screened.verdict])
            return None
        return screened.text

    async def _callback_text(self, data: str, sender_id: str) -> str | None:
        """The payload of a pressed button, if it is one the assistant offered."""
        offered = await self.deps.guard.offered_payloads(sender_id)
        data = clean_text(data)  # callback data can be forged like any other field
        if data.startswith(SHORT_KEY_PREFIX):
            data = next((p for p in offered if short_key(p) == data), "")
        if data and (data in offered or not data.startswith("/")):
            return data
        await self.notify(sender_id, "button_expired")
        return None

    async def _answer_callback(self, callback_query_id: str) -> None:
        try:
            await self.deps.api.answer_callback(callback_query_id)
        except Exception:
            logger.warning("answerCallbackQuery failed", exc_info=True)

    async def notify(self, sender_id: str, notice: str) -> None:
        """Send one of the channel's own notices; a failure is logged, not raised."""
        text = self.deps.notices.render(notice, max_chars=self.deps.guard.max_chars)
        await self.answers().send_text_message(sender_id, text)


class TelegramInput(InputChannel):
    """Rasa input channel for Telegram (declared in credentials.yml as connectors.telegram.TelegramInput)."""

    @classmethod
    def name(cls) -> str:
        """The channel name: URL prefix, `input_channel` of messages, `output_channel` of notifications."""
        return "telegram"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Options from credentials.yml; secrets default to TELEGRAM_TOKEN / TELEGRAM_WEBHOOK_SECRET."""
        return cls(**(credentials or {}))

    @classmethod
    async def register_webhook(cls, settings: Settings) -> str | None:
        """`python -m bot set-webhooks`: register PUBLIC_URL's webhook and its secret; None when not configured."""
        if not (settings.telegram_token and settings.telegram_webhook_secret):
            return None
        return await set_webhook(settings.public_url, settings.telegram_webhook_secret, settings.telegram_token)

    def __init__(
        self,
        token: str | None = None,
        webhook_secret: str | None = None,
        notices: dict[str, str] | None = None,
        deps: TelegramDeps | None = None,
        settings: Settings | None = None,
    ) -> None:
        self._token = token
        self._webhook_secret = webhook_secret
        self._notice_overrides = notices or {}
        self._deps = deps
        self._settings = settings

    def deps(self) -> TelegramDeps:
        """The channel's dependencies, built from settings on first use (at server start-up)."""
        if self._deps is None:
            settings = self._settings or get_settings()
            token = self._token or settings.telegram_token
            if not token:
                logger.warning("TELEGRAM_TOKEN is not set: the Telegram channel will refuse every call")
            stores = open_channel_stores(settings.effective_database_url)
            self._deps = TelegramDeps(
                api=TelegramApi(create_bot(token or "0:unset")),
                stores=stores,
                guard=Guard(
                    stores.offers, SlidingWindowRateLimiter(settings.rate_limit_per_minute), settings.max_message_chars
                ),
                notices=load_notices(ROOT / "domain.yml", self._notice_overrides),
                webhook_secret=(self._webhook_secret or settings.telegram_webhook_secret) if token else None,
                max_body_bytes=settings.max_body_bytes,
            )
        return self._deps

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """The webhook route (and a health check)."""
        webhook = TelegramWebhook(self.deps())
        telegram_webhook = Blueprint("telegram_webhook", __name__)

        @telegram_webhook.listener("before_server_start")
        async def reset_connections(*_: Any) -> None:
            dispose_after_fork(webhook.deps.stores)

        @telegram_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @telegram_webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            status, body = await webhook.handle(request.headers, request.body or b"", on_new_message)
            return response.json(body, status=status)

        return telegram_webhook

    def get_output_channel(self) -> TelegramOutput:
        """Where notifications to Telegram citizens go."""
        deps = self.deps()
        return TelegramOutput(deps.api, deps.stores.offers)
