"""Bounded retries with backoff for the channels' outbound calls (Telegram Bot API, Twilio REST API)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]


def backoff_delay(attempt: int, base: float = 0.5, cap: float = 8.0) -> float:
    """Exponential delay before retry number `attempt` (1-based), capped."""
    return min(cap, base * 2 ** (attempt - 1))


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    delay_for: Callable[[Exception, int], float | None],
    sleep: Sleep = asyncio.sleep,
    what: str = "call",
) -> T:
    """Run `call`, retrying while `delay_for(error, attempt)` gives a delay; the last error is raised."""
    attempt = 1
    while True:
        try:
            return await call()
        except Exception as error:
            delay = delay_for(error, attempt)
            if delay is None or attempt >= attempts:
                logger.error("%s failed after %d attempt(s): %r", what, attempt, error)
                raise
            logger.warning("%s failed (%r); retry %d in %.1fs", what, error, attempt, delay)
            await sleep(delay)
            attempt += 1
