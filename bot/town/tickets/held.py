"""Messages held for a citizen who was not there: rendered when a ticket changed, emitted when they come back.

A web chat tab that is closed has nobody to receive a notification, so the outbox keeps what the assistant would
have said (`held_messages`) and the job stays `sent`. When the citizen's browser comes back with its stored session
(or while it is connected), the web chat channel takes each held row with `claim`, which records the delivery and
moves the outbox job to `delivered` in the same transaction, then emits the messages. A row is claimed by one
process only, so two rasa servers never show the same update twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from bot.clock import utc_now
from bot.db import read_transaction, write_transaction
from bot.town.tickets.schema import held_messages, outbox

MAX_SENDERS_PER_QUERY = 500


@dataclass(frozen=True)
class HeldMessage:
    """The rendered messages of one outbox job, waiting for one channel identity."""

    id: int
    job_id: int
    channel: str
    sender_id: str
    messages: list[dict[str, Any]]
    created_at: datetime
    delivered_at: datetime | None = None


class HeldMessages:
    """Held messages on one engine (synchronous; async callers use `asyncio.to_thread`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def waiting(self, channel: str, sender_ids: Iterable[str]) -> list[HeldMessage]:
        """Messages not delivered yet to any of these identities, oldest first."""
        senders = list(dict.fromkeys(sender_ids))[:MAX_SENDERS_PER_QUERY]
        if not senders:
            return []
        statement = (
            select(held_messages)
            .where(
                held_messages.c.channel == channel,
                held_messages.c.sender_id.in_(senders),
                held_messages.c.delivered_at.is_(None),
            )
            .order_by(held_messages.c.id)
        )
        with read_transaction(self.engine) as conn:
            return [_held(row) for row in conn.execute(statement)]

    def claim(self, held_id: int, now: datetime | None = None) -> bool:
        """Take one held row for emission: True for exactly one caller, who must then emit its messages."""
        now = now or utc_now()
        with write_transaction(self.engine) as conn:
            taken = conn.execute(
                update(held_messages)
                .where(held_messages.c.id == held_id, held_messages.c.delivered_at.is_(None))
                .values(delivered_at=now)
            ).rowcount
            if taken != 1:
                return False
            job_id = conn.execute(select(held_messages.c.job_id).where(held_messages.c.id == held_id)).scalar_one()
            conn.execute(
                update(outbox).where(outbox.c.id == job_id, outbox.c.status == "sent").values(status="delivered")
            )
        return True

    def of_jobs(self, job_ids: Iterable[int]) -> dict[int, HeldMessage]:
        """The held row of each of these outbox jobs that has one (for the ticket page)."""
        ids = list(job_ids)
        if not ids:
            return {}
        with read_transaction(self.engine) as conn:
            rows = conn.execute(select(held_messages).where(held_messages.c.job_id.in_(ids))).all()
        return {row.job_id: _held(row) for row in rows}  # type: ignore[attr-defined]


def _held(row: Any) -> HeldMessage:
    m = row._mapping
    return HeldMessage(
        id=m["id"],
        job_id=m["job_id"],
        channel=m["channel"],
        sender_id=m["sender_id"],
        messages=list(m["messages"] or []),
        created_at=m["created_at"],
        delivered_at=m["delivered_at"],
    )
