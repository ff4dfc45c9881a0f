"""The rest of a long SMS answer, kept per sender until they send SUITE (or until it expires).

An answer longer than the SMS budget is sent in parts; the first goes at once with « (suite : envoyez SUITE) »,
the others wait here, with the menu that belongs to the last part. They expire after `MAX_AGE`: a SUITE sent the
next day gets a clear « nothing more » rather than an answer to a question long forgotten.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from bot.clock import naive_utc_now
from bot.db import write_transaction
from connectors.shared.offers import Button
from connectors.shared.tables import sms_continuations

MAX_AGE = timedelta(hours=1)


@dataclass(frozen=True)
class NextPart:
    """One waiting part, whether others wait after it, and the menu to remember when it is the last."""

    text: str
    more: bool
    menu: list[Button]


class ContinuationStore(Protocol):
    """The waiting parts of each sender's last long answer."""

    async def keep(self, sender_id: str, parts: list[str], menu: list[Button]) -> None:
        """Replace what waits for `sender_id` by `parts` (none: forget)."""
        ...

    async def take(self, sender_id: str) -> NextPart | None:
        """Remove and return the next waiting part, or None when nothing (fresh) waits."""
        ...


def _encode(parts: list[str], menu: list[Button]) -> str:
    return json.dumps({"parts": parts, "menu": [[b.title, b.payload] for b in menu]}, ensure_ascii=False)


def _decode(data: str) -> tuple[list[str], list[Button]]:
    value = json.loads(data)
    return list(value["parts"]), [Button(title, payload) for title, payload in value["menu"]]


def _next(parts: list[str], menu: list[Button]) -> tuple[NextPart, list[str]]:
    rest = parts[1:]
    return NextPart(parts[0], bool(rest), menu), rest


class SqlContinuationStore:
    """Waiting parts in the `sms_continuations` table (shared by every rasa server process)."""

    def __init__(
        self, engine: Engine, clock: Callable[[], datetime] = naive_utc_now, max_age: timedelta = MAX_AGE
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._max_age = max_age

    def _keep_blocking(self, sender_id: str, parts: list[str], menu: list[Button]) -> None:
        table = sms_continuations
        with write_transaction(self._engine) as connection:
            connection.execute(delete(table).where(table.c.sender_id == sender_id))
            if parts:
                connection.execute(
                    table.insert().values(sender_id=sender_id, data=_encode(parts, menu), kept_at=self._clock())
                )

    def _take_blocking(self, sender_id: str) -> NextPart | None:
        table = sms_continuations
        with write_transaction(self._engine) as connection:
            row = connection.execute(
                select(table.c.data, table.c.kept_at).where(table.c.sender_id == sender_id).with_for_update()
            ).first()
            if row is None:
                return None
            connection.execute(delete(table).where(table.c.sender_id == sender_id))
            if row.kept_at < self._clock() - self._max_age:
                return None
            parts, menu = _decode(row.data)
            if not parts:
                return None
            part, rest = _next(parts, menu)
            if rest:
                connection.execute(
                    table.insert().values(sender_id=sender_id, data=_encode(rest, menu), kept_at=row.kept_at)
                )
            return part

    async def keep(self, sender_id: str, parts: list[str], menu: list[Button]) -> None:
        """Replace what waits for `sender_id` by `parts` (none: forget)."""
        await asyncio.to_thread(self._keep_blocking, sender_id, parts, menu)

    async def take(self, sender_id: str) -> NextPart | None:
        """Remove and return the next waiting part, or None when nothing (fresh) waits."""
        return await asyncio.to_thread(self._take_blocking, sender_id)


class MemoryContinuationStore:
    """In-process waiting parts, for tests."""

    def __init__(self, clock: Callable[[], datetime] = naive_utc_now, max_age: timedelta = MAX_AGE) -> None:
        self.waiting: dict[str, tuple[list[str], list[Button], datetime]] = {}
        self._clock = clock
        self._max_age = max_age

    async def keep(self, sender_id: str, parts: list[str], menu: list[Button]) -> None:
        """Replace what waits for `sender_id` by `parts` (none: forget)."""
        if parts:
            self.waiting[sender_id] = (list(parts), list(menu), self._clock())
        else:
            self.waiting.pop(sender_id, None)

    async def take(self, sender_id: str) -> NextPart | None:
        """Remove and return the next waiting part, or None when nothing (fresh) waits."""
        kept = self.waiting.pop(sender_id, None)
        if kept is None or kept[2] < self._clock() - self._max_age or not kept[0]:
            return None
        part, rest = _next(kept[0], kept[1])
        if rest:
            self.waiting[sender_id] = (rest, kept[1], kept[2])
        return part
