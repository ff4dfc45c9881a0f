"""Privacy: masking of personal data in stored conversations, review screens and process logs; erasure, retention."""

from bot.town.privacy.addresses import find_addresses, mask_for_review
from bot.town.privacy.erasure import (
    ERASED_SLOT,
    ErasureReport,
    conversation_erased,
    erase_sender,
    erase_senders,
    forget_sms_identity,
    sender_ids_for,
)
from bot.town.privacy.events import mask_event, mask_events, mask_value
from bot.town.privacy.logs import MaskingFilter, mask_logs
from bot.town.privacy.masking import PLACEHOLDERS, Match, find_personal_data, mask_text
from bot.town.privacy.retention import PurgeReport, parse_age, purge, purge_daily

__all__ = [
    "ERASED_SLOT",
    "PLACEHOLDERS",
    "ErasureReport",
    "Match",
    "MaskingFilter",
    "PurgeReport",
    "conversation_erased",
    "erase_sender",
    "erase_senders",
    "find_addresses",
    "forget_sms_identity",
    "find_personal_data",
    "mask_logs",
    "mask_event",
    "mask_events",
    "mask_for_review",
    "mask_text",
    "mask_value",
    "parse_age",
    "purge",
    "purge_daily",
    "sender_ids_for",
]
