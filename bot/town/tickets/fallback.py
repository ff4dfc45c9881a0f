"""The fallback: a ticket update the citizen's own channel could not deliver in time goes to the contact they gave.

Only the reporter's own notification falls back (followers gave no contact), only when the report recorded their
consent (`ticket_contact_consents`, asked by the report form right after the contact), and only once per update:
the fallback job's dedup key names the job it stands in for. The fallback job is an ordinary outbox job
(`FALLBACK_KIND`, channel `email` or `sms`, the contact as recipient), so it is retried with the outbox's backoff,
cancelled by an SMS opt-out, and shown on the ticket page like the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import String, and_, cast, exists, literal, select
from sqlalchemy.engine import Engine

from bot.db import write_transaction
from bot.town.tickets.outbox import FALLBACK_KIND, NOT_DELIVERED, NOTIFY_KIND, enqueue
from bot.town.tickets.schema import contact_consents, outbox, tickets

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

    def __init__(self, engine: Engine, after: timedelta, *, channels: Iterable[str] = (EMAIL,)) -> None:
        self.engine = engine
        self.after = after
        self.channels = frozenset(channels)

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
                if enqueue(conn, FALLBACK_KIND, fallback_key(job_id), dict(payload), channel, contact, now):
                    queued += 1
        return queued
