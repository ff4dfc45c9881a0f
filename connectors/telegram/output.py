"""Sending to Telegram: the Bot API behind retries, long texts split, buttons as an inline keyboard."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from rasa.core.channels.channel import OutputChannel
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ChatAction
from telegram.error import BadRequest, NetworkError, RetryAfter

from connectors.shared.offers import OfferStore, button_from_rasa, buttons_from_rasa, short_key
from connectors.shared.retries import Sleep, backoff_delay, with_retries
from connectors.telegram.updates import chat_id_of

logger = logging.getLogger(__name__)

MAX_MESSAGE_UTF16 = 4096
MAX_CALLBACK_BYTES = 64


def retry_after_seconds(error: RetryAfter) -> float:
    """The wait Telegram asked for, in seconds."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB warns that retry_after becomes a timedelta
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def telegram_retry_delay(error: Exception, attempt: int, max_retry_after: float = 60.0) -> float | None:
    """Seconds to wait before retrying a Bot API call, or None when retrying cannot help."""
    if isinstance(error, RetryAfter):
        wait = retry_after_seconds(error)
        return wait if wait <= max_retry_after else None
    if isinstance(error, BadRequest):
        return None
    if isinstance(error, NetworkError):  # 5xx, timeouts, connection errors
        return backoff_delay(attempt)
    return None


def _prefix_within(text: str, limit: int) -> int:
    """Length of the longest prefix of `text` that takes at most `limit` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def split_message(text: str, limit: int = MAX_MESSAGE_UTF16) -> list[str]:
    """Parts of at most `limit` UTF-16 units, cut at a paragraph, line or word boundary when possible."""
    parts: list[str] = []
    rest = text.strip()
    while rest:
        end = _prefix_within(rest, limit)
        if end == len(rest):
            parts.append(rest)
            break
        window = rest[: end + 1]  # a separator right after the limit is a fine place to cut
        cut = next((i for i in (window.rfind(sep) for sep in ("\n\n", "\n", " ")) if i > end // 2), end)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return parts


def callback_data_for(payload: str) -> str:
    """The payload itself when Telegram accepts it, else a short key the input channel can resolve."""
    return payload if len(payload.encode("utf-8")) <= MAX_CALLBACK_BYTES else short_key(payload)


def inline_keyboard(buttons: list[dict[str, Any]]) -> InlineKeyboardMarkup:
    """One button per row (long French titles stay readable); a button with `url` opens the link."""
    rows = []
    for raw in buttons:
        button = button_from_rasa(raw)
        if button is None:
            continue
        if raw.get("url"):
            rows.append([InlineKeyboardButton(button.title, url=str(raw["url"]))])
        else:
            rows.append([InlineKeyboardButton(button.title, callback_data=callback_data_for(button.payload))])
    return InlineKeyboardMarkup(rows)


class TelegramApi:
    """The Bot API calls the channel makes, each retried on flood control, 5xx and network errors."""

    def __init__(self, bot: Bot, attempts: int = 4, max_retry_after: float = 60.0, sleep: Sleep = asyncio.sleep):
        self.bot = bot
        self._attempts = attempts
        self._max_retry_after = max_retry_after
        self._sleep = sleep

    async def _call(self, what: str, call: Any) -> Any:
        return await with_retries(
            call,
            attempts=self._attempts,
            delay_for=lambda error, attempt: telegram_retry_delay(error, attempt, self._max_retry_after),
            sleep=self._sleep,
            what=f"Telegram {what}",
        )

    async def send_text(self, chat_id: int, text: str, reply_markup: InlineKeyboardMarkup | None = None) -> None:
        """Send a text, split if long; the keyboard goes with the last part."""
        parts = split_message(text) or [""]
        for index, part in enumerate(parts):
            markup = reply_markup if index == len(parts) - 1 else None
            await self._call("sendMessage", lambda p=part, m=markup: self.bot.send_message(chat_id, p, reply_markup=m))

    async def send_photo(self, chat_id: int, url: str) -> None:
        """Send an image by URL, or the URL as text when Telegram cannot fetch it."""
        try:
            await self._call("sendPhoto", lambda: self.bot.send_photo(chat_id, url))
        except BadRequest:
            await self.send_text(chat_id, url)

    async def send_typing(self, chat_id: int) -> None:
        """Show that the town is typing, until its next message or for 5 s at most (Telegram's rule); no retries."""
        await self.bot.send_chat_action(chat_id, ChatAction.TYPING)

    async def answer_callback(self, callback_query_id: str) -> None:
        """Stop the spinner on the button the citizen pressed."""
        await self._call("answerCallbackQuery", lambda: self.bot.answer_callback_query(callback_query_id))

    async def file_url(self, file_id: str) -> str:
        """A download URL for a file (it embeds the bot token: fetch it, never store or show it)."""
        file = await self._call("getFile", lambda: self.bot.get_file(file_id))
        return str(file.file_path)


class TelegramOutput(OutputChannel):
    """Answers and notifications to a Telegram chat.

    Notifications (`raise_errors=True`) raise when Telegram stays unreachable, so the outbox retries them. Answers
    to a citizen's message do not: Rasa would otherwise drop the whole turn from the conversation. After one failed
    answer, the rest of the turn is not attempted (Telegram is down; each attempt would wait through the retries).
    """

    @classmethod
    def name(cls) -> str:
        """Matches the input channel, so `channel: telegram` response variants apply."""
        return "telegram"

    def __init__(self, api: TelegramApi, offers: OfferStore, *, raise_errors: bool = True) -> None:
        self.api = api
        self._offers = offers
        self._raise_errors = raise_errors
        self.failed = False

    async def _send(self, recipient_id: str, call: Callable[[int], Awaitable[None]]) -> None:
        if self.failed and not self._raise_errors:
            logger.error("Telegram answer to %s dropped: an earlier answer of this turn failed", recipient_id)
            return
        try:
            await call(chat_id_of(recipient_id))
        except Exception:
            if self._raise_errors:
                raise
            self.failed = True
            logger.exception("Telegram answer to %s lost after retries", recipient_id)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Send a text."""
        await self._send(recipient_id, lambda chat_id: self.api.send_text(chat_id, text))

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        """Send a text with an inline keyboard, remembering the payloads offered."""
        offered = buttons_from_rasa([b for b in buttons if not b.get("url")])
        if offered:
            await self._offers.remember(recipient_id, offered)
        keyboard = inline_keyboard(buttons)
        await self._send(recipient_id, lambda chat_id: self.api.send_text(chat_id, text, keyboard))

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        """Send an image."""
        await self._send(recipient_id, lambda chat_id: self.api.send_photo(chat_id, image))

    async def send_attachment(self, recipient_id: str, attachment: Any, **kwargs: Any) -> None:
        """Send an attachment's link as text."""
        await self.send_text_message(recipient_id, str(attachment))

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        """Send the `text` or `photo` of a custom message; anything else is not for citizens."""
        if json_message.get("text"):
            await self.send_text_message(recipient_id, str(json_message["text"]))
        elif json_message.get("photo"):
            await self.send_image_url(recipient_id, str(json_message["photo"]))
        else:
            logger.info("Custom message without text or photo not sent to Telegram: keys %s", sorted(json_message))
