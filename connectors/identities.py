"""Pseudonymous SMS sender ids: the tracker store sees "sms:<hash>", only this table knows the number."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

import phonenumbers
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.db import read_transaction, write_transaction
from connectors.deliveries import utc_now
from connectors.tables import sms_identities

SMS_PREFIX = "sms:"
SECRET_FILE_NAME = "identity_secret"  # noqa: S105 - a file name


def normalise_number(raw: str, default_region: str = "FR") -> str:
    """The number in E.164 when it parses (Twilio already sends E.164), else as given, stripped."""
    raw = raw.strip()
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return raw
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def sms_sender_id(secret: bytes, number: str) -> str:
    """ "sms:" and the first 20 hex digits of HMAC-SHA256(secret, E.164 number)."""
    digest = hmac.new(secret, normalise_number(number).encode("utf-8"), hashlib.sha256).hexdigest()
    return SMS_PREFIX + digest[:20]


def load_identity_secret(configured: str | None, var_dir: Path) -> bytes:
    """The configured identity secret, or one generated once and kept in var_dir (mode 600)."""
    if configured:
        return configured.encode("utf-8")
    path = var_dir / SECRET_FILE_NAME
    if path.is_file():
        return path.read_text(encoding="utf-8").strip().encode("utf-8")
    var_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its secret
        return path.read_text(encoding="utf-8").strip().encode("utf-8")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    return value.encode("utf-8")


class IdentityStore(Protocol):
    """Maps pseudonymous sender ids to the phone numbers used to reach them."""

    async def remember(self, sender_id: str, number: str) -> None:
        """Record (or refresh) the number behind `sender_id`."""
        ...

    async def number_for(self, sender_id: str) -> str | None:
        """The number behind `sender_id`, or None."""
        ...


class SqlIdentityStore:
    """Identities in the `sms_identities` table."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def _remember_blocking(self, sender_id: str, number: str) -> None:
        with write_transaction(self._engine) as connection:
            table = sms_identities
            updated = connection.execute(
                table.update().where(table.c.sender_id == sender_id).values(address=number, last_seen_at=self._clock())
            ).rowcount
            if not updated:
                connection.execute(
                    table.insert().values(sender_id=sender_id, address=number, last_seen_at=self._clock())
                )

    def _number_for_blocking(self, sender_id: str) -> str | None:
        with read_transaction(self._engine) as connection:
            return connection.execute(
                select(sms_identities.c.address).where(sms_identities.c.sender_id == sender_id)
            ).scalar()

    async def remember(self, sender_id: str, number: str) -> None:
        """Record (or refresh) the number behind `sender_id`."""
        await asyncio.to_thread(self._remember_blocking, sender_id, number)

    async def number_for(self, sender_id: str) -> str | None:
        """The number behind `sender_id`, or None."""
        return await asyncio.to_thread(self._number_for_blocking, sender_id)


class MemoryIdentityStore:
    """In-process identities, for tests."""

    def __init__(self) -> None:
        self.numbers: dict[str, str] = {}

    async def remember(self, sender_id: str, number: str) -> None:
        """Record (or refresh) the number behind `sender_id`."""
        self.numbers[sender_id] = number

    async def number_for(self, sender_id: str) -> str | None:
        """The number behind `sender_id`, or None."""
        return self.numbers.get(sender_id)
