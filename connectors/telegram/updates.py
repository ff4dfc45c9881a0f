"""What a Telegram update means for the assistant: text, command, button, location, photo, or unsupported."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from telegram import Message, Update

# Commands the connector translates itself into the assistant's intents.
COMMAND_INTENTS = {"start": "/greet", "aide": "/help", "help": "/help"}
UNSUPPORTED_KINDS = (
    "sticker",
    "voice",
    "video",
    "video_note",
    "audio",
    "animation",
    "document",
    "contact",
    "poll",
    "dice",
    "game",
)


class Kind(str, Enum):
    """The kinds of update the connector tells apart."""

    TEXT = "text"
    COMMAND = "command"
    CALLBACK = "callback"
    LOCATION = "location"
    PHOTO = "photo"
    UNSUPPORTED = "unsupported"
    IGNORED = "ignored"


@dataclass(frozen=True)
class TelegramEvent:
    """One update, reduced to what the channel acts on."""

    kind: Kind
    chat_id: int | None = None
    text: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    callback_query_id: str | None = None


def sender_id_for(chat_id: int) -> str:
    """The tracker's sender id for a Telegram chat."""
    return f"telegram:{chat_id}"


def chat_id_of(sender_id: str) -> int:
    """The Telegram chat id inside a sender id ("telegram:123" or "123")."""
    return int(sender_id.split(":", 1)[1] if sender_id.startswith("telegram:") else sender_id)


def event_from_update(update: Update) -> TelegramEvent:
    """Classify an update; only private chats are served (a group would share one conversation)."""
    if update.callback_query is not None:
        query = update.callback_query
        chat = query.message.chat if query.message is not None else None
        if chat is not None and chat.type != "private":
            return TelegramEvent(Kind.IGNORED)
        chat_id = chat.id if chat is not None else query.from_user.id
        return TelegramEvent(Kind.CALLBACK, chat_id, query.data or "", callback_query_id=query.id)

    message = update.message or update.edited_message
    if message is None or message.chat.type != "private":
        return TelegramEvent(Kind.IGNORED)
    metadata: dict[str, Any] = {"edited": True} if update.edited_message is not None else {}
    return _event_from_message(message, metadata)


def _event_from_message(message: Message, metadata: dict[str, Any]) -> TelegramEvent:
    chat_id = message.chat.id
    if message.text is not None:
        command = _command_of(message)
        if command in COMMAND_INTENTS:
            return TelegramEvent(Kind.COMMAND, chat_id, COMMAND_INTENTS[command], metadata)
        return TelegramEvent(Kind.TEXT, chat_id, message.text, metadata)
    if message.location is not None:
        location = {"lat": message.location.latitude, "lon": message.location.longitude}
        if message.location.horizontal_accuracy is not None:
            location["accuracy_m"] = message.location.horizontal_accuracy
        return TelegramEvent(Kind.LOCATION, chat_id, "", {**metadata, "location": location})
    photo = _photo_of(message)
    if photo is not None:
        return TelegramEvent(Kind.PHOTO, chat_id, message.caption or "", {**metadata, "photo": photo})
    for kind in UNSUPPORTED_KINDS:
        if getattr(message, kind, None) is not None:
            return TelegramEvent(Kind.UNSUPPORTED, chat_id, "", {**metadata, "unsupported": kind})
    return TelegramEvent(Kind.IGNORED, chat_id)


def _command_of(message: Message) -> str | None:
    """The bot command the text starts with ("/aide@GuichetBot x" → "aide"), if any."""
    text = message.text or ""
    if not text.startswith("/"):
        return None
    head = text.split(maxsplit=1)[0][1:]
    return head.split("@", 1)[0].casefold() or None


def _photo_of(message: Message) -> dict[str, Any] | None:
    """The largest size of a photo, or an image sent as a file."""
    if message.photo:
        largest = message.photo[-1]
        return {
            "file_id": largest.file_id,
            "file_unique_id": largest.file_unique_id,
            "width": largest.width,
            "height": largest.height,
        }
    document = message.document
    if document is not None and (document.mime_type or "").startswith("image/"):
        return {
            "file_id": document.file_id,
            "file_unique_id": document.file_unique_id,
            "mime_type": document.mime_type,
            "file_size": document.file_size,
        }
    return None
