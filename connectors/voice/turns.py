"""Each turn of a call (its CallSid and the turn number carried in the `<Gather action>` URL) is answered once.

A repeated delivery of a turn gets the TwiML of the first answer, and the assistant is not asked again; the row
also carries what the next turn needs to read the caller's words (a transcript awaiting « oui », a pending offer of
the switchboard, misunderstandings in a row) and the topic the switchboard agent hears before a transfer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from bot.clock import naive_utc_now
from bot.db import insert_ignoring_conflict, read_transaction, write_transaction
from connectors.shared.tables import voice_turns

CONFIRM = "confirm"  # the turn asked « vous avez dit … : c'est bien cela ? »
SWITCHBOARD = "switchboard"  # the turn offered a transfer to the switchboard
TEXT_REFERENCE = "sms"  # the turn offered a report's reference by SMS (`pending` holds the reference)


@dataclass(frozen=True)
class Turn:
    """One answered (or being answered) turn of a call."""

    call_sid: str
    turn: int
    sender_id: str
    twiml: str | None = None
    pending: str | None = None
    offer: str | None = None
    misses: int = 0
    topic: str | None = None


class TurnStore(Protocol):
    """Claims turns and keeps their answers."""

    async def claim(self, call_sid: str, turn: int, sender_id: str) -> bool:
        """True the first time a turn is seen (the caller answers it), False for a repeat."""
        ...

    async def get(self, call_sid: str, turn: int) -> Turn | None:
        """The turn, or None."""
        ...

    async def finish(self, answered: Turn) -> None:
        """Store the answer of a claimed turn and what the next turn needs."""
        ...


class SqlTurnStore:
    """Turns in the `voice_turns` table."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = naive_utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def _claim(self, call_sid: str, turn: int, sender_id: str) -> bool:
        with write_transaction(self._engine) as connection:
            values = {"call_sid": call_sid, "turn": turn, "sender_id": sender_id, "misses": 0}
            return insert_ignoring_conflict(
                connection, voice_turns, {**values, "created_at": self._clock()}, ["call_sid", "turn"]
            )

    def _get(self, call_sid: str, turn: int) -> Turn | None:
        with read_transaction(self._engine) as connection:
            row = connection.execute(
                select(voice_turns).where(voice_turns.c.call_sid == call_sid, voice_turns.c.turn == turn)
            ).first()
        if row is None:
            return None
        return Turn(**{k: v for k, v in row._mapping.items() if k != "created_at"})

    def _finish(self, answered: Turn) -> None:
        with write_transaction(self._engine) as connection:
            connection.execute(
                update(voice_turns)
                .where(voice_turns.c.call_sid == answered.call_sid, voice_turns.c.turn == answered.turn)
                .values(
                    twiml=answered.twiml,
                    pending=answered.pending,
                    offer=answered.offer,
                    misses=answered.misses,
                    topic=answered.topic,
                )
            )

    async def claim(self, call_sid: str, turn: int, sender_id: str) -> bool:
        """True the first time a turn is seen, False for a repeat."""
        return await asyncio.to_thread(self._claim, call_sid, turn, sender_id)

    async def get(self, call_sid: str, turn: int) -> Turn | None:
        """The turn, or None."""
        return await asyncio.to_thread(self._get, call_sid, turn)

    async def finish(self, answered: Turn) -> None:
        """Store the answer of a claimed turn."""
        await asyncio.to_thread(self._finish, answered)


class MemoryTurnStore:
    """In-process turns, for tests."""

    def __init__(self) -> None:
        self.turns: dict[tuple[str, int], Turn] = {}

    async def claim(self, call_sid: str, turn: int, sender_id: str) -> bool:
        """True the first time a turn is seen, False for a repeat."""
        if (call_sid, turn) in self.turns:
            return False
        self.turns[(call_sid, turn)] = Turn(call_sid, turn, sender_id)
        return True

    async def get(self, call_sid: str, turn: int) -> Turn | None:
        """The turn, or None."""
        return self.turns.get((call_sid, turn))

    async def finish(self, answered: Turn) -> None:
        """Store the answer of a claimed turn."""
        self.turns[(answered.call_sid, answered.turn)] = replace(answered)
