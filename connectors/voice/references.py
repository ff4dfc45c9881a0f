"""A report's reference by SMS to the caller's mobile, when they say yes: their SMS identity follows the ticket.

The SMS itself goes the way every ticket notification goes: an outbox job written with the subscription, sent by the
console's outbox worker through the rasa server in the caller's SMS conversation (`utter_ticket_update`, opt-outs
honoured, « STOP » works), so the citizen can then ask « où en est … ? » by SMS and receives every status change.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Protocol

from bot.town.privacy.pseudonyms import normalise_number, sms_sender_id
from bot.town.tickets.store import TicketStore
from connectors.shared.identities import IdentityStore

logger = logging.getLogger(__name__)

SMS_CHANNEL = "sms"


def is_french_mobile(number: str) -> bool:
    """Whether a caller's number can receive an SMS: a French mobile, 06 or 07 (+336, +337)."""
    e164 = normalise_number(number)
    return re.fullmatch(r"\+33[67]\d{8}", e164) is not None


class ReferenceTexts(Protocol):
    """Sends a report's reference by SMS to a caller who agreed."""

    async def send(self, ref: str, number: str) -> None:
        """Queue the SMS (raises when it cannot be queued)."""
        ...


class OutboxReferenceTexts:
    """The reference by SMS through the ticket store's subscriptions and outbox."""

    def __init__(self, tickets: TicketStore, identities: IdentityStore, identity_secret: bytes) -> None:
        self._tickets = tickets
        self._identities = identities
        self._secret = identity_secret

    async def send(self, ref: str, number: str) -> None:
        """Remember the number behind the caller's SMS pseudonym, then follow the ticket and queue the SMS."""
        sender_id = sms_sender_id(self._secret, number)
        await self._identities.remember(sender_id, number)
        await asyncio.to_thread(self._tickets.follow_and_notify, ref, SMS_CHANNEL, sender_id)
