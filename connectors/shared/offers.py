"""Buttons the assistant offered to each sender: the last menu (SMS numbers) and recent payloads (/intent guard)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.clock import naive_utc_now
from bot.db import read_transaction, write_transaction
from connectors.shared.tables import channel_offers

MAX_REMEMBERED_PAYLOADS = 40
SHORT_KEY_PREFIX = "k:"


@dataclass(frozen=True)
class Button:
    """One button as offered: what the citizen sees and what it sends."""

    title: str
    payload: str


def button_from_rasa(button: dict[str, Any]) -> Button | None:
    """One of Rasa's button dicts as a `Button` (without payload it sends its title); None if blank."""
    title = str(button.get("title") or button.get("payload") or "").strip()
    payload = str(button.get("payload") or title).strip()
    return Button(title=title, payload=payload) if title else None


def buttons_from_rasa(buttons: list[dict[str, Any]]) -> list[Button]:
    """Rasa's button dicts as `Button`s, blank ones left out."""
    return [b for b in map(button_from_rasa, buttons) if b is not None]


def short_key(payload: str) -> str:
    """A stable key of at most 64 bytes standing for a long payload (Telegram's callback_data limit)."""
    return SHORT_KEY_PREFIX + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Offer:
    """What a sender was last offered."""

    menu: list[Button]
    payloads: list[str]
    offered_at: datetime


class OfferStore(Protocol):
    """Remembers the buttons offered to each sender."""

    async def remember(self, sender_id: str, buttons: list[Button]) -> None:
        """Record that `buttons` were just offered to `sender_id`."""
        ...

    async def recall(self, sender_id: str) -> Offer | None:
        """The sender's last offer, or None."""
        ...


def merge_payloads(previous: list[str], buttons: list[Button]) -> list[str]:
    """Recent payloads, newest first, without duplicates, capped."""
    merged: list[str] = []
    for payload in [b.payload for b in buttons] + previous:
        if payload not in merged:
            merged.append(payload)
    return merged[:MAX_REMEMBERED_PAYLOADS]


class SqlOfferStore:
    """Offers in the `channel_offers` table, so every worker and restart sees them."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = naive_utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def _recall_blocking(self, sender_id: str) -> Offer | None:
        with read_transaction(self._engine) as connection:
            row = connection.execute(select(channel_offers).where(channel_offers.c.sender_id == sender_id)).first()
        if row is None:
            return None
        menu = [Button(**item) for item in json.loads(row.menu)]
        return Offer(menu=menu, payloads=json.loads(row.payloads), offered_at=row.offered_at)

    def _remember_blocking(self, sender_id: str, buttons: list[Button]) -> None:
        with write_transaction(self._engine) as connection:
            row = connection.execute(
                select(channel_offers.c.payloads).where(channel_offers.c.sender_id == sender_id)
            ).first()
            values = {
                "menu": json.dumps([{"title": b.title, "payload": b.payload} for b in buttons], ensure_ascii=False),
                "payloads": json.dumps(merge_payloads(json.loads(row.payloads) if row else [], buttons)),
                "offered_at": self._clock(),
            }
            if row is None:
                connection.execute(channel_offers.insert().values(sender_id=sender_id, **values))
            else:
                connection.execute(
                    channel_offers.update().where(channel_offers.c.sender_id == sender_id).values(**values)
                )

    async def remember(self, sender_id: str, buttons: list[Button]) -> None:
        """Record that `buttons` were just offered to `sender_id`."""
        await asyncio.to_thread(self._remember_blocking, sender_id, buttons)

    async def recall(self, sender_id: str) -> Offer | None:
        """The sender's last offer, or None."""
        return await asyncio.to_thread(self._recall_blocking, sender_id)


class MemoryOfferStore:
    """In-process offers, for tests."""

    def __init__(self, clock: Callable[[], datetime] = naive_utc_now) -> None:
        self._clock = clock
        self.offers: dict[str, Offer] = {}

    async def remember(self, sender_id: str, buttons: list[Button]) -> None:
        """Record that `buttons` were just offered to `sender_id`."""
        previous = self.offers.get(sender_id)
        payloads = merge_payloads(previous.payloads if previous else [], buttons)
        self.offers[sender_id] = Offer(menu=list(buttons), payloads=payloads, offered_at=self._clock())

    async def recall(self, sender_id: str) -> Offer | None:
        """The sender's last offer, or None."""
        return self.offers.get(sender_id)


def is_fresh(offer: Offer | None, max_age: timedelta, now: datetime) -> bool:
    """Whether an offer is recent enough to be answered."""
    return offer is not None and now - offer.offered_at <= max_age
