"""Per-sender lanes: messages accepted for one sender are handled one at a time, in arrival order."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


class SenderLanes:
    """Runs background work per sender, in order, keeping a reference to every task until it ends."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, sender_id: str, work: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Schedule `work` after everything already submitted for `sender_id`."""
        lock = self._locks.get(sender_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[sender_id] = lock

        async def run(held: asyncio.Lock = lock) -> None:
            async with held:
                try:
                    await work()
                except Exception:
                    logger.exception("Handling a message in the background failed")

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        """Wait until every submitted task has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
