"""Satisfaction: once a ticket is closed, its citizen is asked once, on their channel, whether the answer suited them.

The question leaves through the outbox like a status update, with the same consent rules: only to the citizen who
created the ticket, only while they follow it (erasing their data or following nothing more stops it), and an
outbox job to a recipient who sent STOP is cancelled, never sent. The rasa server asks the question when it receives
`EXTERNAL_satisfaction` (domain.yml, 👍/👎 buttons; a numbered menu by SMS); the answer comes back as affirm/deny.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Connection, Engine

from bot.db import insert_ignoring_conflict, read_transaction, write_transaction
from bot.town.tickets.model import Ticket
from bot.town.tickets.outbox import enqueue
from bot.town.tickets.references import parse_reference
from bot.town.tickets.schema import ticket_satisfaction, tickets

SATISFACTION_KIND = "satisfaction"
SATISFACTION_INTENT = "EXTERNAL_satisfaction"
CLOSED_STATES = frozenset({"traite", "non_retenu"})


def ask_when_closed(
    conn: Connection, ticket: Ticket, state: str, followers: list[tuple[str, str]], now: datetime
) -> bool:
    """Inside a status change's transaction: queue the question if `state` closes the ticket and its creator
    still follows it, unless it was asked before; whether it was queued now."""
    creator = (ticket.channel, ticket.sender_id)
    if state not in CLOSED_STATES or not ticket.sender_id or creator not in followers:
        return False
    first_time = insert_ignoring_conflict(
        conn,
        ticket_satisfaction,
        {"ticket_id": ticket.id, "channel": ticket.channel, "sender_id": ticket.sender_id, "asked_at": now},
        ["ticket_id"],
    )
    if first_time:
        key = f"{SATISFACTION_KIND}:{ticket.ref}"
        enqueue(conn, SATISFACTION_KIND, key, {"ticket_ref": ticket.ref}, ticket.channel, ticket.sender_id, now)
    return first_time


@dataclass(frozen=True)
class SatisfactionRate:
    """Answers for one category or channel."""

    key: str
    satisfied: int
    answered: int

    @property
    def rate(self) -> float | None:
        """Share of satisfied answers, or None without answers."""
        return self.satisfied / self.answered if self.answered else None


class SatisfactionStore:
    """Answers to the satisfaction question (synchronous; async callers use a thread)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, ref: str, channel: str, sender_id: str, satisfied: bool, now: datetime) -> bool:
        """Store the answer of the citizen who was asked about this ticket; False if they were not asked,
        or already answered (the first answer stands)."""
        canonical = parse_reference(ref)
        if canonical is None:
            return False
        ticket_id = select(tickets.c.id).where(tickets.c.service_request_id == canonical).scalar_subquery()
        with write_transaction(self.engine) as conn:
            result = conn.execute(
                update(ticket_satisfaction)
                .where(
                    ticket_satisfaction.c.ticket_id == ticket_id,
                    ticket_satisfaction.c.channel == channel,
                    ticket_satisfaction.c.sender_id == sender_id,
                    ticket_satisfaction.c.satisfied.is_(None),
                )
                .values(satisfied=satisfied, answered_at=now)
            )
        return result.rowcount == 1

    def answer_of(self, ref: str) -> bool | None:
        """The citizen's answer about this ticket, or None when not asked or not answered."""
        canonical = parse_reference(ref) or ref
        with read_transaction(self.engine) as conn:
            return conn.execute(
                select(ticket_satisfaction.c.satisfied)
                .select_from(ticket_satisfaction.join(tickets, tickets.c.id == ticket_satisfaction.c.ticket_id))
                .where(tickets.c.service_request_id == canonical)
            ).scalar()

    def rates(self, start: datetime, end: datetime) -> tuple[list[SatisfactionRate], list[SatisfactionRate]]:
        """Answers given between `start` (included) and `end` (excluded): per ticket category, per channel."""
        answered = and_(
            ticket_satisfaction.c.satisfied.is_not(None),
            ticket_satisfaction.c.answered_at >= start,
            ticket_satisfaction.c.answered_at < end,
        )
        joined = ticket_satisfaction.join(tickets, tickets.c.id == ticket_satisfaction.c.ticket_id)
        out = []
        with read_transaction(self.engine) as conn:
            for column in (tickets.c.service_code, ticket_satisfaction.c.channel):
                rows = conn.execute(
                    select(column, ticket_satisfaction.c.satisfied, func.count())
                    .select_from(joined)
                    .where(answered)
                    .group_by(column, ticket_satisfaction.c.satisfied)
                ).all()
                counts: dict[str, list[int]] = {}
                for key, satisfied, count in rows:
                    pair = counts.setdefault(str(key), [0, 0])
                    pair[0] += count if satisfied else 0
                    pair[1] += count
                out.append([SatisfactionRate(k, s, n) for k, (s, n) in sorted(counts.items())])
        return out[0], out[1]
