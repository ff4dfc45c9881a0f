"""The outbox: messages written in the same transaction as the change that causes them, then sent by a worker.

A job is claimed atomically before it is sent (so two workers never send it twice), retried with exponential
backoff on failure, declared dead after too many attempts, and cancelled when its recipient opted out.

What a citizen notification went through, per channel: `pending` (queued) → `sending` → `sent` (handed over, not
yet received: a web chat tab that is closed) → `delivered`; or straight to `delivered` when the platform accepted it
(Telegram, SMS, e-mail; see each notifier); `failed` (retried later) → `dead`; `cancelled` after an opt-out.
Only a notifier that says so (`SendResult(delivered=True)`) or the citizen's session coming back
(bot/town/tickets/held.py) makes a job `delivered`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import Connection, Engine

from bot.clock import utc_now
from bot.db import insert_ignoring_conflict, read_transaction, write_transaction
from bot.town.tickets.model import OutboxJob
from bot.town.tickets.schema import held_messages, outbox, sms_optouts

if TYPE_CHECKING:  # bot.town.notify imports this package's models; keep the import one-way at runtime
    from bot.town.notify import Notifier
    from bot.town.tickets.fallback import FallbackPlanner

log = logging.getLogger(__name__)

NOTIFY_KIND = "ticket_update"
FALLBACK_KIND = (
    "ticket_update_fallback"  # the same update, to the contact the citizen gave (bot/town/tickets/fallback.py)
)
FORWARD_KIND = "forward"
ALERT_KIND = "urgent_alert"  # an e-mail to the on-call address (ALERT_EMAIL) about an urgent ticket
PHOTO_KIND = "photo_download"  # a Telegram or MMS photo to download into the media store
RETRYABLE_STATUSES = ("failed", "dead")
MAX_ERROR_CHARS = 2000
NOT_DELIVERED = ("pending", "sending", "sent", "failed", "dead")


@dataclass(frozen=True)
class SendResult:
    """What a notifier did with a job: delivered (the platform accepted it), or handed over and `held` for later.

    `held` are the rendered messages to give the citizen when their session comes back (web chat); a job that is
    neither delivered nor held stays `sent`, and the fallback to the citizen's contact may take over.
    """

    delivered: bool
    response: str | None = None
    held: list[dict[str, Any]] | None = None


def enqueue(
    conn: Connection,
    kind: str,
    dedup_key: str,
    payload: dict[str, Any],
    channel: str | None,
    recipient: str | None,
    now: datetime,
) -> bool:
    """Queue a job inside the caller's transaction; False if a job with this dedup key already exists."""
    return insert_ignoring_conflict(
        conn,
        outbox,
        {
            "kind": kind,
            "dedup_key": dedup_key,
            "payload": payload,
            "channel": channel,
            "recipient": recipient,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        },
        ["dedup_key"],
    )


class OutboxStore:
    """Outbox rows and SMS opt-outs on one engine (synchronous; the worker calls it from a thread)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim_due(self, now: datetime, *, limit: int, lease: timedelta) -> tuple[list[OutboxJob], int]:
        """Claim up to `limit` due jobs (and cancel those whose recipient opted out); returns (claimed, cancelled)."""
        due = or_(
            and_(outbox.c.status.in_(("pending", "failed")), outbox.c.next_attempt_at <= now),
            # A worker that died mid-send leaves its claim behind; take it over once the lease ran out.
            and_(outbox.c.status == "sending", outbox.c.locked_until < now),
        )
        claimed: list[OutboxJob] = []
        cancelled = 0
        with write_transaction(self.engine) as conn:
            rows = conn.execute(
                select(outbox).where(due).order_by(outbox.c.next_attempt_at, outbox.c.id).limit(limit)
            ).all()
            for row in rows:
                job = OutboxJob.from_row(row)
                if self._opted_out(conn, job.channel, job.recipient):
                    result = conn.execute(
                        update(outbox)
                        .where(outbox.c.id == job.id, due)
                        .values(status="cancelled", last_error="recipient opted out", locked_until=None)
                    )
                    cancelled += result.rowcount
                    continue
                result = conn.execute(
                    update(outbox)
                    .where(outbox.c.id == job.id, due)
                    .values(status="sending", attempts=outbox.c.attempts + 1, locked_until=now + lease)
                )
                if result.rowcount == 1:  # another worker may have claimed it between our SELECT and UPDATE
                    claimed.append(OutboxJob.from_row(conn.execute(select(outbox).where(outbox.c.id == job.id)).one()))
        return claimed, cancelled

    def mark_sent(
        self,
        job_id: int,
        now: datetime,
        response: str | None = None,
        *,
        delivered: bool = False,
        held: list[dict[str, Any]] | None = None,
    ) -> bool:
        """Record a successful send of a claimed job: `delivered`, or `sent` with the messages `held` for later."""
        with write_transaction(self.engine) as conn:
            result = conn.execute(
                update(outbox)
                .where(outbox.c.id == job_id, outbox.c.status == "sending")
                .values(
                    status="delivered" if delivered else "sent",
                    sent_at=now,
                    locked_until=None,
                    last_error=None,
                    response=response,
                )
            )
            if result.rowcount == 1 and held and not delivered:
                job = conn.execute(select(outbox.c.channel, outbox.c.recipient).where(outbox.c.id == job_id)).one()
                insert_ignoring_conflict(
                    conn,
                    held_messages,
                    {"job_id": job_id, "channel": job.channel, "sender_id": job.recipient, "messages": held,
                     "created_at": now},
                    ["job_id"],
                )  # fmt: skip
        return result.rowcount == 1

    def mark_failed(self, job_id: int, error: str, retry_at: datetime | None) -> bool:
        """Record a failed send: retry at `retry_at`, or give up (dead) when it is None."""
        values: dict[str, Any] = {"last_error": error[:MAX_ERROR_CHARS], "locked_until": None}
        if retry_at is None:
            values["status"] = "dead"
        else:
            values.update(status="failed", next_attempt_at=retry_at)
        with write_transaction(self.engine) as conn:
            result = conn.execute(
                update(outbox).where(outbox.c.id == job_id, outbox.c.status == "sending").values(**values)
            )
        return result.rowcount == 1

    def jobs(self, *, status: str | None = None, kind: str | None = None) -> list[OutboxJob]:
        """Outbox jobs, oldest first (for the console and tests)."""
        statement = select(outbox).order_by(outbox.c.id)
        if status is not None:
            statement = statement.where(outbox.c.status == status)
        if kind is not None:
            statement = statement.where(outbox.c.kind == kind)
        with read_transaction(self.engine) as conn:
            return [OutboxJob.from_row(row) for row in conn.execute(statement)]

    def job(self, dedup_key: str) -> OutboxJob | None:
        """The job with this dedup key, or None."""
        with read_transaction(self.engine) as conn:
            row = conn.execute(select(outbox).where(outbox.c.dedup_key == dedup_key)).first()
        return OutboxJob.from_row(row) if row else None

    def retry_now(self, dedup_key: str, now: datetime) -> bool:
        """Give a failed or dead job a fresh start (staff asked): due now, attempts counted from zero."""
        with write_transaction(self.engine) as conn:
            result = conn.execute(
                update(outbox)
                .where(outbox.c.dedup_key == dedup_key, outbox.c.status.in_(RETRYABLE_STATUSES))
                .values(status="pending", attempts=0, next_attempt_at=now, locked_until=None)
            )
        return result.rowcount == 1

    def set_optout(self, channel: str, sender_id: str, opted_out: bool, now: datetime | None = None) -> None:
        """Record that a sender sent STOP (True) or START (False) on a channel."""
        now = now or utc_now()
        with write_transaction(self.engine) as conn:
            inserted = insert_ignoring_conflict(
                conn,
                sms_optouts,
                {"channel": channel, "sender_id": sender_id, "opted_out": opted_out, "changed_at": now},
                ["channel", "sender_id"],
            )
            if not inserted:
                conn.execute(
                    update(sms_optouts)
                    .where(sms_optouts.c.channel == channel, sms_optouts.c.sender_id == sender_id)
                    .values(opted_out=opted_out, changed_at=now)
                )

    def is_opted_out(self, channel: str, sender_id: str) -> bool:
        """Whether this sender asked not to receive messages on this channel."""
        with read_transaction(self.engine) as conn:
            return self._opted_out(conn, channel, sender_id)

    @staticmethod
    def _opted_out(conn: Connection, channel: str | None, sender_id: str | None) -> bool:
        if not channel or not sender_id:
            return False
        flag = conn.execute(
            select(sms_optouts.c.opted_out).where(
                sms_optouts.c.channel == channel, sms_optouts.c.sender_id == sender_id
            )
        ).scalar()
        return bool(flag)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: base, base*factor, base*factor², ... capped; dead after `max_attempts` tries."""

    base_seconds: float = 30.0
    factor: float = 2.0
    max_seconds: float = 3600.0
    max_attempts: int = 8

    def retry_at(self, now: datetime, attempts: int) -> datetime | None:
        """When to try again after `attempts` failed tries, or None to give up."""
        if attempts >= self.max_attempts:
            return None
        delay = min(self.base_seconds * self.factor ** (attempts - 1), self.max_seconds)
        return now + timedelta(seconds=delay)


@dataclass
class OutboxRun:
    """What one pass of the worker did."""

    sent: int = 0
    failed: int = 0
    dead: int = 0
    cancelled: int = 0
    delivered: int = 0
    fallbacks: int = 0


class OutboxWorker:
    """Sends due outbox jobs through a `Notifier`; safe to run in several processes at once."""

    def __init__(
        self,
        store: OutboxStore,
        notifier: Notifier,
        *,
        clock: Callable[[], datetime] = utc_now,
        backoff: Backoff = Backoff(),
        batch_size: int = 20,
        lease: timedelta = timedelta(minutes=5),
        fallback: FallbackPlanner | None = None,
    ) -> None:
        self.store = store
        self.fallback = fallback
        self.notifier = notifier
        self.clock = clock
        self.backoff = backoff
        self.batch_size = batch_size
        self.lease = lease

    async def run_once(self) -> OutboxRun:
        """Queue the fallbacks that are due, then claim the due jobs and try each once."""
        run = OutboxRun()
        if self.fallback is not None:
            run.fallbacks = await asyncio.to_thread(self.fallback.plan, self.clock())
        jobs, run.cancelled = await asyncio.to_thread(
            self.store.claim_due, self.clock(), limit=self.batch_size, lease=self.lease
        )
        for job in jobs:
            try:
                response = await self.notifier.send(job)
            except Exception as error:  # any failure of the far side is retried, never lost
                retry_at = self.backoff.retry_at(self.clock(), job.attempts)
                await asyncio.to_thread(self.store.mark_failed, job.id, f"{type(error).__name__}: {error}", retry_at)
                if retry_at is None:
                    run.dead += 1
                    log.error("outbox job %s (%s) is dead after %s attempts: %s", job.id, job.kind, job.attempts, error)
                else:
                    run.failed += 1
                    log.warning("outbox job %s (%s) failed, retry at %s: %s", job.id, job.kind, retry_at, error)
            else:
                result = response if isinstance(response, SendResult) else SendResult(False, response)
                await asyncio.to_thread(
                    self.store.mark_sent,
                    job.id,
                    self.clock(),
                    result.response,
                    delivered=result.delivered,
                    held=result.held,
                )
                if result.delivered:
                    run.delivered += 1
                else:
                    run.sent += 1
        return run

    async def run_forever(self, stop: asyncio.Event, *, interval_seconds: float = 2.0) -> None:
        """Poll until `stop` is set; a database hiccup is logged and the loop goes on."""
        while not stop.is_set():
            try:
                run = await self.run_once()
            except Exception:
                log.exception("outbox pass failed")
                run = OutboxRun()
            if run.sent + run.delivered + run.failed + run.dead + run.cancelled < self.batch_size:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
                except asyncio.TimeoutError:
                    pass
