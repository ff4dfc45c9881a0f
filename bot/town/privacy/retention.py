"""Retention: how long Guichet keeps what (`python -m bot purge --older-than 180d`, and daily under `make run`).

- a conversation whose last event is older than the retention period goes, with what hangs on its sender id
  (buttons offered, reviews, corrections, pending contacts, handoff requests, ticket updates held for it, the rest
  of a long SMS answer);
- an SMS identity (phone number) goes once unseen for the period, or after `SHORT_LIVED` once its conversation is
  gone, unless it still follows a ticket;
- webhook deliveries, buttons offered and staff sessions only matter for a day or two: they go after
  `SHORT_LIVED` (or the retention period if shorter);
- outbox jobs that are finished (sent, delivered, cancelled, dead) go after the period, with the updates they held;
  pending ones never do;
- login attempts go after the period;
- a counter appointment (with its pre-application number and the citizen's sender id) goes once it ended more than
  the period ago;
- tickets and the staff audit log are kept (records of the town's work), but a ticket closed for longer than the
  period is anonymised as an erasure would (no sender, no contact, description masked, photo deleted) and loses
  its followers (its satisfaction answer stays, without who gave it);
- a photo of the media store that no ticket refers to (an upload whose report was never sent) goes after
  `SHORT_LIVED` (or the retention period if shorter).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.expression import TableClause

from bot.clock import utc_now
from bot.db import read_transaction, write_transaction
from bot.town.media import MediaStore
from bot.town.privacy.erasure import TICKETS, anonymise_tickets

logger = logging.getLogger(__name__)

SHORT_LIVED = timedelta(days=2)
DAY_SECONDS = 24 * 3600
# Rows that hang on a conversation and go with it.
CONVERSATION_TABLES = (
    "events", "channel_offers", "conversation_reviews", "intent_corrections", "report_pending_contacts",
    "handoff_requests", "voice_turns", "held_messages", "sms_continuations",
)  # fmt: skip
FINISHED_OUTBOX_STATUSES = ("sent", "delivered", "cancelled", "dead")
MEDIA_ROWS = "media"  # the purge report's line for photo files
_AGE = re.compile(r"\s*(\d+)\s*([dhwj]?)\s*", re.IGNORECASE)
_UNIT_SECONDS = {"": DAY_SECONDS, "d": DAY_SECONDS, "j": DAY_SECONDS, "h": 3600, "w": 7 * DAY_SECONDS}


def parse_age(text: str) -> timedelta:
    """ "180d" (or "180j", "180"), "12h", "4w" as a duration; ValueError otherwise."""
    match = _AGE.fullmatch(text or "")
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"not a duration: {text!r} (examples: 180d, 12h, 4w)")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])


@dataclass
class PurgeReport:
    """Rows purged (or that would be, in a dry run), table by table."""

    dry_run: bool
    conversations: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    anonymised_tickets: int = 0
    photos: list[str] = field(default_factory=list)  # media references to delete once the purge committed

    @property
    def total(self) -> int:
        """Rows purged in every table together."""
        return sum(self.rows.values())

    def summary(self) -> str:
        """One line for the operator or the log."""
        verb = "would be purged" if self.dry_run else "purged"
        detail = ", ".join(f"{t}={n}" for t, n in sorted(self.rows.items()) if n) or "nothing"
        tickets = "would be anonymised" if self.dry_run else "anonymised"
        return (
            f"{self.conversations} conversation(s), {self.total} row(s) {verb}: {detail}; "
            f"{self.anonymised_tickets} closed ticket(s) {tickets}"
        )


def purge(
    engine: Engine,
    older_than: timedelta,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    media: MediaStore | None = None,
) -> PurgeReport:
    """Purge what is older than `older_than` (see the module docstring), photos in `media` included; a dry run only
    counts."""
    now = now or utc_now()
    cutoff = now - older_than
    short_cutoff = now - min(older_than, SHORT_LIVED)
    report = PurgeReport(dry_run)
    transaction = read_transaction if dry_run else write_transaction
    with transaction(engine) as conn:
        present = set(sa.inspect(conn).get_table_names())
        stale = _stale_conversations(conn, cutoff) if "events" in present else []
        report.conversations = len(stale)
        for name in CONVERSATION_TABLES:
            if name in present and stale:
                table = sa.table(name, sa.column("sender_id"))
                _purge(conn, report, table, table.c.sender_id.in_(stale), dry_run)
        _purge_by_time(conn, report, present, cutoff, short_cutoff, dry_run)
        if "tickets" in present:
            _anonymise_closed_tickets(conn, report, present, cutoff, dry_run)
        if media is not None:
            attached = _attached_photos(conn) if "tickets" in present else set()
            report.photos += [p for p in media.stale(short_cutoff.timestamp()) if p not in attached]
    if media is not None:
        # Files go after the commit: a rolled-back purge leaves every ticket with its photo.
        report.rows[MEDIA_ROWS] = len(report.photos) if dry_run else media.delete(report.photos)
    return report


def _attached_photos(conn: Connection) -> set[str]:
    """The media references tickets hold."""
    return set(conn.execute(sa.select(TICKETS.c.media_url).where(TICKETS.c.media_url.is_not(None))).scalars())


def _anonymise_closed_tickets(
    conn: Connection, report: PurgeReport, present: set[str], cutoff: datetime, dry_run: bool
) -> None:
    """Tickets closed (last changed) before the cutoff keep no trace of who reported or follows them."""
    old_closed = (TICKETS.c.status == "closed") & (TICKETS.c.updated_datetime < _naive(cutoff))
    identified = TICKETS.c.sender_id.is_not(None) | TICKETS.c.contact.is_not(None)
    if "subscriptions" in present:
        subscriptions = sa.table("subscriptions", sa.column("ticket_id"))
        condition = subscriptions.c.ticket_id.in_(sa.select(TICKETS.c.id).where(old_closed))
        _purge(conn, report, subscriptions, condition, dry_run)
    if "ticket_satisfaction" in present and not dry_run:  # the answer stays for the figures, not who gave it
        answers = sa.table("ticket_satisfaction", sa.column("ticket_id"), sa.column("sender_id"))
        of_old = answers.c.ticket_id.in_(sa.select(TICKETS.c.id).where(old_closed))
        conn.execute(sa.update(answers).where(of_old & (answers.c.sender_id != "")).values(sender_id=""))
    identified = identified | TICKETS.c.media_url.is_not(None)
    if dry_run:
        count = conn.execute(sa.select(sa.func.count()).select_from(TICKETS).where(old_closed & identified)).scalar()
        report.photos += conn.execute(
            sa.select(TICKETS.c.media_url).where(old_closed & TICKETS.c.media_url.is_not(None))
        ).scalars()
    else:
        anonymised = anonymise_tickets(conn, old_closed & identified)
        count, report.photos = anonymised.count, report.photos + anonymised.photos
    report.anonymised_tickets = int(count or 0)


def _stale_conversations(conn: Connection, cutoff: datetime) -> list[str]:
    events = sa.table("events", sa.column("sender_id"), sa.column("timestamp"))
    query = (
        sa.select(events.c.sender_id)
        .group_by(events.c.sender_id)
        .having(sa.func.max(events.c.timestamp) < cutoff.timestamp())
    )
    return list(conn.execute(query).scalars())


def _purge_by_time(
    conn: Connection, report: PurgeReport, present: set[str], cutoff: datetime, short: datetime, dry_run: bool
) -> None:
    naive_cutoff, naive_short = _naive(cutoff), _naive(short)
    if "channel_deliveries" in present:
        table = sa.table("channel_deliveries", sa.column("received_at", sa.DateTime))
        _purge(conn, report, table, table.c.received_at < naive_short, dry_run)
    if "channel_offers" in present:
        table = sa.table("channel_offers", sa.column("offered_at", sa.DateTime))
        _purge(conn, report, table, table.c.offered_at < naive_short, dry_run)
    if "voice_turns" in present:  # a call lasts minutes: what its turns hold is not kept beyond the short window
        table = sa.table("voice_turns", sa.column("created_at", sa.DateTime))
        _purge(conn, report, table, table.c.created_at < naive_short, dry_run)
    if "sms_identities" in present:
        table = sa.table("sms_identities", sa.column("sender_id"), sa.column("last_seen_at", sa.DateTime))
        condition = table.c.last_seen_at < naive_cutoff
        if "events" in present:  # a number whose conversation is gone (erased) is not kept for the full period
            events = sa.table("events", sa.column("sender_id"))
            orphan = table.c.sender_id.not_in(sa.select(events.c.sender_id))
            condition = condition | ((table.c.last_seen_at < naive_short) & orphan)
        if "subscriptions" in present:
            followers = sa.table("subscriptions", sa.column("sender_id"))
            condition = condition & table.c.sender_id.not_in(sa.select(followers.c.sender_id))
        _purge(conn, report, table, condition, dry_run)
    if "staff_sessions" in present:
        table = sa.table("staff_sessions", sa.column("last_seen_at"))
        _purge(conn, report, table, table.c.last_seen_at < short.timestamp(), dry_run)
    if "login_attempts" in present:
        table = sa.table("login_attempts", sa.column("at"))
        _purge(conn, report, table, table.c.at < cutoff.timestamp(), dry_run)
    if "appointment_bookings" in present:
        table = sa.table("appointment_bookings", sa.column("end", sa.DateTime))
        _purge(conn, report, table, table.c.end < naive_cutoff, dry_run)
    if "outbox" in present:
        table = sa.table("outbox", sa.column("id"), sa.column("status"), sa.column("created_at", sa.DateTime))
        condition = table.c.status.in_(FINISHED_OUTBOX_STATUSES) & (table.c.created_at < naive_cutoff)
        if "held_messages" in present:  # what a finished job held goes with it (SQLite does not cascade)
            held = sa.table("held_messages", sa.column("job_id"))
            _purge(conn, report, held, held.c.job_id.in_(sa.select(table.c.id).where(condition)), dry_run)
        _purge(conn, report, table, condition, dry_run)


def _purge(conn: Connection, report: PurgeReport, table: TableClause, condition: Any, dry_run: bool) -> None:
    """Delete (or count, in a dry run) the rows of `table` matching `condition`."""
    if dry_run:
        count = conn.execute(sa.select(sa.func.count()).select_from(table).where(condition)).scalar() or 0
    else:
        count = conn.execute(sa.delete(table).where(condition)).rowcount or 0
    report.rows[table.name] = report.rows.get(table.name, 0) + int(count)


def _naive(moment: datetime) -> datetime:
    """Aware → naive UTC, as the channel and ticket tables store their times."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


async def purge_daily(
    engine: Engine,
    older_than: timedelta,
    stop: asyncio.Event,
    *,
    interval_seconds: float = DAY_SECONDS,
    media: MediaStore | None = None,
) -> None:
    """Purge now, then every `interval_seconds`, until `stop` is set (the console runs it under `make run`)."""
    while not stop.is_set():
        try:
            report = await asyncio.to_thread(functools.partial(purge, engine, older_than, media=media))
            logger.info("Retention purge (older than %s): %s", older_than, report.summary())
        except Exception:  # a failed purge must not stop the console; it is retried at the next interval
            logger.exception("Retention purge failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
        except asyncio.TimeoutError:
            pass
