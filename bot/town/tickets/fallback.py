"""The fallback: a ticket update the citizen's own channel could not deliver in time goes to the contact they gave.

Only the reporter's own notification falls back (followers gave no contact), only when the report recorded their
consent (`ticket_contact_consents`, asked by the report form right after the contact), and only once per update:
the fallback job's dedup key names the job it stands in for. The fallback job is an ordinary outbox job
(`FALLBACK_KIND`, channel `email` or `sms`, the contact as recipient), so it is retried with the outbox's backoff,
cancelled by an SMS opt-out, and shown on the ticket page like the others.

By SMS, the fallback's recipient is the pseudonymous SMS sender id of the number (bot/town/privacy/pseudonyms.py),
as if the citizen had written from it: a STOP sent from that phone cancels it, and `SmsFallbackNotifier` sends it
through the rasa server's SMS channel (Twilio, opt-outs, the French of domain.yml with its STOP line).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import String, and_, cast, exists, literal, select
from sqlalchemy.engine import Engine

from bot.clock import utc_now
from bot.db import write_transaction
from bot.town.tickets.model import OutboxJob
from bot.town.tickets.outbox import FALLBACK_KIND, NOT_DELIVERED, NOTIFY_KIND, SendResult, enqueue
from bot.town.tickets.schema import contact_consents, outbox, tickets

if TYPE_CHECKING:
    from bot.town.notify import Notifier
    from bot.town.tickets.store import TicketStore

EMAIL, SMS = "email", "sms"
WINDOW = timedelta(days=7)  # older undelivered updates are history, not news
MAX_PER_PASS = 100


def contact_channel(contact: str) -> str:
    """The channel a ticket's contact is reached on: an e-mail address, or else a phone number (SMS)."""
    return EMAIL if "@" in contact else SMS


def fallback_key(job_id: int) -> str:
    """The dedup key of the fallback that stands in for outbox job `job_id`."""
    return f"{FALLBACK_KIND}:{job_id}"


class FallbackPlanner:
    """Queues the fallbacks that are due; `plan` runs before each pass of the outbox worker."""

    def __init__(
        self,
        engine: Engine,
        after: timedelta,
        *,
        channels: Iterable[str] = (EMAIL,),
        sms_sender_id: Callable[[str], str] | None = None,
    ) -> None:
        """`sms_sender_id` maps a phone number to its SMS sender id; SMS fallbacks need it."""
        self.engine = engine
        self.after = after
        self.channels = frozenset(channels) - ({SMS} if sms_sender_id is None else set())
        self.sms_sender_id = sms_sender_id

    def plan(self, now: datetime) -> int:
        """Queue a fallback for each reporter's update still undelivered `after` it was queued; how many."""
        cutoff = now - self.after
        stand_in = outbox.alias("stand_in")
        already = exists().where(stand_in.c.dedup_key == literal(f"{FALLBACK_KIND}:") + cast(outbox.c.id, String))
        reporters_update = and_(
            tickets.c.channel == outbox.c.channel,
            tickets.c.sender_id == outbox.c.recipient,
            outbox.c.dedup_key.like(literal(f"{NOTIFY_KIND}:") + tickets.c.service_request_id + literal(":%")),
        )
        statement = (
            select(outbox.c.id, outbox.c.payload, tickets.c.contact)
            .select_from(
                outbox.join(tickets, reporters_update).join(
                    contact_consents, contact_consents.c.ticket_id == tickets.c.id
                )
            )
            .where(
                outbox.c.kind == NOTIFY_KIND,
                outbox.c.status.in_(NOT_DELIVERED),
                outbox.c.created_at <= cutoff,
                outbox.c.created_at > cutoff - WINDOW,
                tickets.c.contact.is_not(None),
                ~already,
            )
            .order_by(outbox.c.id)
            .limit(MAX_PER_PASS)
        )
        if SMS not in self.channels:
            statement = statement.where(tickets.c.contact.like("%@%"))
        if EMAIL not in self.channels:
            statement = statement.where(tickets.c.contact.not_like("%@%"))
        queued = 0
        with write_transaction(self.engine) as conn:
            for job_id, payload, contact in conn.execute(statement).all():
                channel = contact_channel(contact)
                if channel not in self.channels:
                    continue
                recipient = self.sms_sender_id(contact) if channel == SMS and self.sms_sender_id else contact
                if enqueue(conn, FALLBACK_KIND, fallback_key(job_id), dict(payload), channel, recipient, now):
                    queued += 1
        return queued


# The SMS channel's identities (connectors/shared/tables.py), named here as the erasure does: bot/ never imports
# connectors/, and the table is the contract between them.
SMS_IDENTITIES = sa.table("sms_identities", sa.column("sender_id"), sa.column("address"), sa.column("last_seen_at"))


class SmsFallbackNotifier:
    """Sends `sms` fallback jobs through the rasa server's SMS channel, to the number the ticket still has.

    The number is read from the ticket when the job is sent, not copied into the outbox: a ticket anonymised since
    (erasure, retention) has no number any more, and its fallback fails instead of reaching the phone. Delivered
    means what it means for the SMS channel (see bot/town/notify.py): Twilio's API accepted the message.
    """

    def __init__(self, tickets: TicketStore, rasa: Notifier, sms_sender_id: Callable[[str], str]) -> None:
        self.tickets = tickets
        self.rasa = rasa
        self.sms_sender_id = sms_sender_id

    def _remember_number(self, sender_id: str, number: str) -> None:
        """Tell the SMS channel which number is behind `sender_id` (what it does for a citizen who wrote)."""
        seen = utc_now().replace(tzinfo=None)  # the channel's tables keep naive UTC
        with write_transaction(self.tickets.engine) as conn:
            updated = conn.execute(
                sa.update(SMS_IDENTITIES)
                .where(SMS_IDENTITIES.c.sender_id == sender_id)
                .values(address=number, last_seen_at=seen)
            ).rowcount
            if not updated:
                conn.execute(sa.insert(SMS_IDENTITIES).values(sender_id=sender_id, address=number, last_seen_at=seen))

    async def send(self, job: OutboxJob) -> SendResult | str | None:
        """Check the ticket still has this number, register it with the SMS channel, then send through rasa."""
        from bot.town.notify import NotificationError

        if job.channel != SMS or not job.recipient:
            raise NotificationError("an SMS fallback needs the sms channel and a sender id")
        ticket = await asyncio.to_thread(self.tickets.get_ticket, str(job.payload.get("ticket_ref") or ""))
        number = ticket.contact if ticket is not None else None
        if not number or "@" in number or self.sms_sender_id(number) != job.recipient:
            raise NotificationError("the ticket no longer has the number this fallback was for")
        await asyncio.to_thread(self._remember_number, job.recipient, number)
        return await self.rasa.send(job)
