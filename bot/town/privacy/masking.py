"""Finding and masking personal data in free text: phone numbers, e-mails, IBANs, NIRs and card numbers.

Every candidate must pass a real validator (phonenumbers, stdnum checksums, Luhn) before it is masked, so
dates, times, postal codes, ticket references, prices and opening hours stay as they were written. The one
exception is the NIR (social-security number): one mistyped digit makes its key wrong but leaves it personal data,
so a 15-character number with a NIR's structure is masked whatever its key. Ticket references are never masked.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import phonenumbers
from phonenumbers import Leniency, PhoneNumberFormat, PhoneNumberMatcher
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.fr import nir as stdnum_nir

# "reference" marks a ticket reference: protected from the other kinds, never masked itself.
Kind = Literal["phone", "email", "iban", "nir", "card", "address", "reference"]

PLACEHOLDERS: dict[str, str] = {
    "phone": "[téléphone masqué]",
    "email": "[e-mail masqué]",
    "iban": "[IBAN masqué]",
    "nir": "[n° de sécurité sociale masqué]",
    "card": "[carte bancaire masquée]",
    "address": "[adresse masquée]",
}

REGION = "FR"

# Separators people put inside long numbers: spaces (also the non-breaking ones), dots, dashes.
_SEPARATORS = " \u00a0\u202f.-"
_SEP = r"[ \u00a0\u202f.\-]"

_EMAIL = re.compile(
    r"(?<![\w.+%-])"
    r"[\w+%-]+(?:\.[\w+%-]+)*"  # local part, Unicode letters allowed ("jérôme")
    r"(?:\s?@\s?|\s?[(\[]at[)\]]\s?|\sarobase\s)"  # "@", "(at)", "[at]", "arobase"
    r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}"  # domain labels and a letters-only TLD
    r"(?!\.?[\w-])",
    re.IGNORECASE,
)
_IBAN_START = re.compile(r"(?<![^\W_])[A-Z]{2}\d{2}", re.IGNORECASE)
_IBAN_CHUNK = re.compile(rf"{_SEP}?[A-Z0-9]+", re.IGNORECASE)
# A run of digit groups; "2A"/"2B" allowed inside a group for NIRs of people born in Corsica.
_DIGIT_RUN = re.compile(rf"(?<![^\W_])\d+(?:[AB]\d*)?(?:{_SEP}\d+(?:[AB]\d*)?)*(?![^\W_])", re.IGNORECASE)
_DIGIT_GROUP = re.compile(r"\d+(?:[AB]\d*)?", re.IGNORECASE)
_MAX_CARD_DIGITS = 19
# Runs of digit groups that may hold phone numbers PhoneNumberMatcher refuses: glued to letters
# ("tel0612345678") or to another number ("06 12 34 56 78 07 98 76 54 32").
_PHONE_RUN = re.compile(rf"\+?\d+(?:{_SEP}\d+)*")
_PHONE_GROUP = re.compile(r"\+?\d+")
_NATIONAL_GROUPINGS = ((10,), (2, 2, 2, 2, 2), (1, 3, 3, 3), (4, 2, 2, 2))
_MAYBE_PERSONAL = re.compile(r"\d[ \u00a0\u202f.-]?\d|@|\(at\)|\[at\]|arobase", re.IGNORECASE)

_NIR_GENDER_DIGITS = "123478"
# A NIR by its structure, key unchecked: sex, year, month (01-12; 20, 30-42 or 50-99 when unknown), department
# (2A/2B in Corsica; never 00) and commune, order number (never 000), key (01-97).
_NIR_SHAPE = re.compile(
    r"[12]\d{2}(?:0[1-9]|1[0-2]|20|3\d|4[0-2]|[5-9]\d)(?:(?!00)\d{2}|2[AB])\d{3}(?!000)\d{3}(?:0[1-9]|[1-8]\d|9[0-7])"
)
# A ticket reference (PAU-2026-000123, "pau 2026 000123", PAU2026000123): never personal data, nor part of any.
_TICKET_REFERENCE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2,6}[\s\-_./]*(?:19|20)\d{2}[\s\-_./]*\d{6}(?![0-9])")
_CARD_GROUPINGS = ((4, 6, 5), (4, 6, 4))


Span = tuple[int, int]
Judge = Callable[[str, list[Span]], "Match | None"]


@dataclass(frozen=True)
class Match:
    """One piece of personal data found in a text."""

    kind: Kind
    span: Span
    value: str

    @property
    def replacement(self) -> str:
        """The typed placeholder that replaces the value."""
        return PLACEHOLDERS[self.kind]


def find_personal_data(text: str, keep: Iterable[str] = frozenset()) -> list[Match]:
    """The personal data in `text`, in order, without overlaps; values listed in `keep` are left out."""
    if not text or not _MAYBE_PERSONAL.search(text):
        return []
    found: list[Match] = []
    references = [Match("reference", m.span(), m.group()) for m in _TICKET_REFERENCE.finditer(text)]
    # Most specific first: an e-mail may hold digits, an IBAN holds a card-length run, and so on.
    for detect in (_find_emails, _find_ibans, _find_long_numbers, _find_phones):
        for match in detect(text, found + references):
            if not any(_overlaps(match, other) for other in found + references):
                found.append(match)
    kept = _normalized_keep(frozenset(keep))
    return sorted((m for m in found if normalize(m.kind, m.value) not in kept), key=lambda m: m.span)


def mask_text(text: str, keep: Iterable[str] = frozenset()) -> str:
    """`text` with phone numbers, e-mails, IBANs, NIRs and card numbers replaced by typed placeholders.

    The bot says the same things again and again (opening hours, the town's phone numbers), and the search for
    phone numbers is the slow part of saving a turn: texts in which nothing is masked are remembered (a bounded
    set, per process), so they are searched once. A text with personal data in it is never remembered.
    """
    key = (text, keep if isinstance(keep, frozenset) else frozenset(keep))
    if key in _NOTHING_TO_MASK:
        return text
    masked = replace_matches(text, find_personal_data(text, key[1]))
    if masked == text:
        _remember_clean(key)
    return masked


# Texts (with the values kept) in which nothing was masked; first in, first out beyond the bound.
_NOTHING_TO_MASK: dict[tuple[str, frozenset[str]], None] = {}
_NOTHING_TO_MASK_SIZE = 8192


def _remember_clean(key: tuple[str, frozenset[str]]) -> None:
    _NOTHING_TO_MASK[key] = None
    while len(_NOTHING_TO_MASK) > _NOTHING_TO_MASK_SIZE:
        try:
            del _NOTHING_TO_MASK[next(iter(_NOTHING_TO_MASK))]
        except (KeyError, RuntimeError, StopIteration):  # another thread evicted it first
            break


def replace_matches(text: str, matches: Iterable[Match]) -> str:
    """`text` with each match (ordered, non-overlapping) replaced by its placeholder."""
    parts: list[str] = []
    position = 0
    for match in matches:
        start, end = match.span
        parts += [text[position:start], match.replacement]
        position = end
    parts.append(text[position:])
    return "".join(parts)


def normalize(kind: str, value: str) -> str:
    """A canonical form of a value, to compare it with the values to keep."""
    if kind == "phone":
        phone = _parse_phone(value)
        return phonenumbers.format_number(phone, PhoneNumberFormat.E164) if phone else value
    if kind == "email":
        return "".join(value.lower().split())
    if kind == "address":
        return " ".join(value.lower().replace(",", " ").split())
    return _compact(value).upper()


@functools.lru_cache(maxsize=64)
def _normalized_keep(keep: frozenset[str]) -> frozenset[str]:
    """Every canonical form the kept values could take, whatever their kind."""
    return frozenset(normalize(kind, value.strip()) for value in keep for kind in PLACEHOLDERS)


def _overlaps(a: Match, b: Match) -> bool:
    return a.span[0] < b.span[1] and b.span[0] < a.span[1]


def _find_emails(text: str, taken: list[Match]) -> Iterable[Match]:
    return [Match("email", m.span(), m.group()) for m in _EMAIL.finditer(text)]


def _find_ibans(text: str, taken: list[Match]) -> Iterable[Match]:
    position = 0
    while (start := _IBAN_START.search(text, position)) is not None:
        ends: list[int] = []
        end, length = start.end(), 4
        while length <= 34 and (chunk := _IBAN_CHUNK.match(text, end)) is not None:
            end = chunk.end()
            length += len(_compact(chunk.group()))
            ends.append(end)
        found = next((e for e in reversed(ends) if _is_iban(text[start.start() : e])), None)
        if found is None:
            position = start.start() + 1
            continue
        yield Match("iban", (start.start(), found), text[start.start() : found])
        position = found


def _is_iban(candidate: str) -> bool:
    compact = _compact(candidate)
    return 15 <= len(compact) <= 34 and stdnum_iban.is_valid(compact)


def _find_long_numbers(text: str, taken: list[Match]) -> Iterable[Match]:
    """NIRs and card numbers."""
    return _scan_groups(text, _DIGIT_RUN, _DIGIT_GROUP, _long_number, taken)


def _long_number(text: str, groups: list[Span]) -> Match | None:
    """The NIR or card number made of the most leading groups, if any."""
    count, digits = 0, 0
    while count < len(groups) and digits + groups[count][1] - groups[count][0] <= _MAX_CARD_DIGITS:
        digits += groups[count][1] - groups[count][0]
        count += 1
    for last in range(count - 1, -1, -1):
        start, end = groups[0][0], groups[last][1]
        compact = _compact(text[start:end]).upper()
        if len(compact) == 15 and _looks_like_nir(compact):
            return Match("nir", (start, end), text[start:end])
        if len(compact) >= 13 and compact.isdigit() and _looks_like_card(compact, _sizes(groups[: last + 1])):
            return Match("card", (start, end), text[start:end])
    return None


def _looks_like_nir(compact: str) -> bool:
    """A valid NIR, or one with a NIR's structure whatever its key (a typo in it is still someone's number)."""
    return bool(_NIR_SHAPE.fullmatch(compact)) or (compact[0] in _NIR_GENDER_DIGITS and stdnum_nir.is_valid(compact))


def _looks_like_card(digits: str, group_sizes: tuple[int, ...]) -> bool:
    """Luhn-valid, with a card network prefix, written in one block or in the groups cards print."""
    grouped = (
        (len(group_sizes) == 1 and len(digits) != 14)  # 14 digits in one block: a company's SIRET
        or (all(size == 4 for size in group_sizes[:-1]) and group_sizes[-1] <= 4)
        or group_sizes in _CARD_GROUPINGS
    )
    network = digits[0] in "3456" or 2221 <= int(digits[:4]) <= 2720
    return grouped and network and luhn.is_valid(digits)


def _find_phones(text: str, taken: list[Match]) -> Iterable[Match]:
    """Phone numbers PhoneNumberMatcher finds, then those it refuses that are still written like one."""
    found = [
        Match("phone", (m.start, m.end), m.raw_string)
        for m in PhoneNumberMatcher(text, REGION, leniency=Leniency.VALID)
        if phonenumbers.is_valid_number(m.number)
    ]
    return found + _scan_groups(text, _PHONE_RUN, _PHONE_GROUP, _phone, taken + found)


def _phone(text: str, groups: list[Span]) -> Match | None:
    """The phone number made of the most leading groups, if any."""
    start = groups[0][0]
    international = text.startswith(("+", "00"), start)
    if not international and not text.startswith("0", start):
        return None
    for last in range(min(len(groups), 8) - 1, -1, -1):
        end = groups[last][1]
        if not international and _sizes(groups[: last + 1]) not in _NATIONAL_GROUPINGS:
            continue
        phone = _parse_phone(text[start:end])
        if phone is not None and phonenumbers.is_valid_number(phone):
            return Match("phone", (start, end), text[start:end])
    return None


def _scan_groups(
    text: str, runs: re.Pattern[str], group: re.Pattern[str], judge: Judge, taken: list[Match]
) -> list[Match]:
    """Matches made of whole groups of each run, left to right, the longest first, away from `taken`."""
    found: list[Match] = []
    for run in runs.finditer(text):
        if any(t.span[0] <= run.start() and run.end() <= t.span[1] for t in taken):
            continue
        for segment in _segments([g.span() for g in group.finditer(text, run.start(), run.end())], taken):
            i = 0
            while i < len(segment):
                match = judge(text, segment[i:])
                if match is None:
                    i += 1
                    continue
                found.append(match)
                i = next(k for k, (_, end) in enumerate(segment) if end == match.span[1]) + 1
    return found


def _segments(groups: list[Span], taken: list[Match]) -> list[list[Span]]:
    """`groups` split wherever a group overlaps something already found."""
    segments: list[list[Span]] = [[]]
    for start, end in groups:
        if any(t.span[0] < end and start < t.span[1] for t in taken):
            segments.append([])
        else:
            segments[-1].append((start, end))
    return [segment for segment in segments if segment]


def _sizes(groups: list[Span]) -> tuple[int, ...]:
    return tuple(end - start for start, end in groups)


def _parse_phone(value: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(value, REGION)
    except phonenumbers.NumberParseException:
        return None


def _compact(value: str) -> str:
    return "".join(c for c in value if c not in _SEPARATORS)
