"""Pseudonymous SMS and phone-call sender ids: conversations and tickets see "sms:<keyed hash>" or
"voice:<keyed hash>", never the phone number.

The key (IDENTITY_SECRET, or one generated once under var/) lets the SMS channel find a citizen's conversation again,
and lets an admin find it from a phone number when the citizen asks for erasure, even once the number itself has
been forgotten.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import phonenumbers

SMS_PREFIX = "sms:"
VOICE_PREFIX = "voice:"
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
    return SMS_PREFIX + _keyed_hash(secret, number)


def voice_sender_id(secret: bytes, number: str) -> str:
    """ "voice:" and the same keyed hash as the number's SMS id: a caller is found again call after call."""
    return VOICE_PREFIX + _keyed_hash(secret, number)


def _keyed_hash(secret: bytes, number: str) -> str:
    return hmac.new(secret, normalise_number(number).encode("utf-8"), hashlib.sha256).hexdigest()[:20]


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
