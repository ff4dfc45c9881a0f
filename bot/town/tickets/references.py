"""Ticket references `<PREFIX>-<YEAR>-<6 digits>`: formatting and tolerant parsing of what citizens type."""

from __future__ import annotations

import re

NUMBER_DIGITS = 6
PREFIX_PATTERN = re.compile(r"[A-Za-z]{2,6}")

# Letters, a year, then up to six digits; any run of spaces, dashes, dots, slashes or underscores between
# them (or none: "PAU2026000123"). The look-arounds stop a match inside a longer word or number.
_REFERENCE = re.compile(
    r"(?<![A-Za-z0-9])([A-Za-z]{2,6})[\s\-_./]*((?:19|20)\d{2})[\s\-_./]*(\d{1,6})(?![0-9])",
)


def format_reference(prefix: str, year: int, number: int) -> str:
    """The canonical reference, e.g. PAU-2026-000123."""
    if not 0 < number < 10**NUMBER_DIGITS:
        raise ValueError(f"reference number out of range: {number}")
    return f"{prefix.upper()}-{year:04d}-{number:0{NUMBER_DIGITS}d}"


def parse_reference(text: str | None, *, prefix: str | None = None) -> str | None:
    """The first ticket reference in `text`, canonical ("pau 2026 000123" -> "PAU-2026-000123"), or None."""
    if not text:
        return None
    for match in _REFERENCE.finditer(text):
        letters, year, digits = match.groups()
        if prefix is not None and letters.upper() != prefix.upper():
            continue
        number = int(digits)
        if number == 0:
            continue
        return format_reference(letters, int(year), number)
    return None
