"""Telegram channel: the webhook authenticated by its secret token, answers through the Bot API."""

from connectors.telegram.channel import (
    SECRET_HEADER,
    TelegramDeps,
    TelegramInput,
    TelegramWebhook,
    create_bot,
    set_webhook,
)
from connectors.telegram.output import TelegramApi, TelegramOutput

__all__ = [
    "SECRET_HEADER",
    "TelegramApi",
    "TelegramDeps",
    "TelegramInput",
    "TelegramOutput",
    "TelegramWebhook",
    "create_bot",
    "set_webhook",
]
