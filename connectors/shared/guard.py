"""What every channel checks before a citizen's text reaches the assistant: rate, length, emptiness, /intent."""

from __future__ import annotations

import re
import time
import unicodedata
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from bot.clock import naive_utc_now
from connectors.shared.offers import OfferStore, is_fresh

# C0 controls except tab, line feed and carriage return, DEL, and the C1 block.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Characters a citizen could put before an intent to smuggle it past an exact-match check: Rasa strips whitespace
# before it looks for the slash, and other slashes may be normalised into one on the way.
SLASH_LOOKALIKES = frozenset("/\u2215\uff0f\u2044\u29f8\u2571\u1735")  # / ∕ ／ ⁄ ⧸ ╱ ᜵
GREET_PAYLOAD = "/greet"  # what a web chat's init payload stands for
DEFAULT_OFFER_MAX_AGE = timedelta(days=1)


class Verdict(str, Enum):
    """What to do with a citizen's message."""

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    EMPTY = "empty"
    TOO_LONG = "too_long"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True)
class Screened:
    """A message after the guard: its verdict and the text to hand on."""

    verdict: Verdict
    text: str = ""


class SlidingWindowRateLimiter:
    """At most `limit` messages per sender in any `window_seconds` (per process)."""

    def __init__(self, limit: int, window_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._window = window_seconds
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._warned: dict[str, float] = {}

    def allow(self, key: str) -> bool:
        """Count one message from `key`; False when it goes over the limit."""
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] >= self._window:
            hits.popleft()
        if len(hits) >= self._limit:
            return False
        hits.append(now)
        self._forget_idle(now)
        return True

    def first_refusal(self, key: str) -> bool:
        """True once per window for a sender over the limit, so a flood gets one warning, not one per message."""
        now = self._clock()
        if now - self._warned.get(key, float("-inf")) < self._window:
            return False
        self._warned[key] = now
        return True

    def _forget_idle(self, now: float) -> None:
        # Keep memory bounded: drop senders whose window is empty, now and then.
        if len(self._hits) > 10_000:
            for key in [k for k, v in self._hits.items() if not v or now - v[-1] >= self._window]:
                del self._hits[key]
            for key in [k for k, at in self._warned.items() if now - at >= self._window]:
                del self._warned[key]


def clean_text(text: str | None) -> str:
    """The text without control characters or NUL, stripped."""
    return CONTROL_CHARACTERS.sub("", text or "").strip()


def _is_padding(character: str) -> bool:
    """Whitespace or an invisible formatting character (zero-width space, joiners, BOM...)."""
    return character.isspace() or unicodedata.category(character) in {"Cf", "Zs", "Zl", "Zp"}


def slash_prefix_length(text: str) -> int:
    """Length of the leading run of slashes (and lookalikes) mixed with padding, 0 when it holds no slash."""
    end = 0
    while end < len(text) and (text[end] in SLASH_LOOKALIKES or _is_padding(text[end])):
        end += 1
    return end if any(character in SLASH_LOOKALIKES for character in text[:end]) else 0


def neutralise_intent(text: str, offered_payloads: list[str]) -> str:
    """The text as is when it is exactly an offered payload; otherwise without its leading slashes, as plain text.

    Whatever precedes, separates or imitates the slash (spaces, tabs, NBSP, zero-width characters, repeated or
    unicode slashes) goes with it, so no text but an offered payload reaches Rasa starting with "/".
    """
    if text in offered_payloads:
        return text
    return text[slash_prefix_length(text) :].strip()


class Guard:
    """Screens citizen messages the same way on every channel."""

    def __init__(
        self,
        offers: OfferStore,
        limiter: SlidingWindowRateLimiter,
        max_chars: int,
        offer_max_age: timedelta = DEFAULT_OFFER_MAX_AGE,
        clock: Callable[[], datetime] = naive_utc_now,
        init_payload: str | None = None,
    ) -> None:
        self.offers = offers
        self.max_chars = max_chars
        self._limiter = limiter
        self._offer_max_age = offer_max_age
        self._clock = clock
        self._init_payload = init_payload

    def allow(self, sender_id: str) -> bool:
        """Count a message from `sender_id`; False when the sender goes over the rate limit."""
        return self._limiter.allow(sender_id)

    def should_warn(self, sender_id: str) -> bool:
        """Whether a sender over the rate limit should be told (once per window)."""
        return self._limiter.first_refusal(sender_id)

    async def offered_payloads(self, sender_id: str) -> list[str]:
        """Payloads of the buttons recently offered to `sender_id`."""
        offer = await self.offers.recall(sender_id)
        return offer.payloads if offer is not None and is_fresh(offer, self._offer_max_age, self._clock()) else []

    async def screen(
        self, sender_id: str, text: str | None, *, count: bool = True, rate_key: str | None = None
    ) -> Screened:
        """Rate limit (per `rate_key`, by default the sender), clean and check a message.

        `count=False` when the caller already counted it. The channel's init payload (a widget's first words)
        stands for a greeting; any other slash-led text is a payload only if it was offered to this sender.
        """
        if count and not self.allow(rate_key or sender_id):
            return Screened(Verdict.RATE_LIMITED)
        cleaned = clean_text(text)
        if len(cleaned) > self.max_chars:
            return Screened(Verdict.TOO_LONG)
        if self._init_payload and cleaned == self._init_payload:
            return Screened(Verdict.PASS, GREET_PAYLOAD)
        if slash_prefix_length(cleaned):
            cleaned = neutralise_intent(cleaned, await self.offered_payloads(sender_id))
        if not cleaned:
            return Screened(Verdict.EMPTY)
        return Screened(Verdict.PASS, cleaned)
