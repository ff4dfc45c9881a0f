"""SMS text: GSM-7 / UCS-2 segment counting, shortening to a few segments, and numbered menus for buttons."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from connectors.shared.notices import Notices
from connectors.shared.offers import Button

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")  # each takes two septets (escape + character)

SINGLE_SEGMENT = {"GSM-7": 160, "UCS-2": 70}
MULTIPART_SEGMENT = {"GSM-7": 153, "UCS-2": 67}
MAX_MENU_BUTTONS = 9
MAX_PARTS = 8  # a longer answer is shortened in its last part: nobody sends SUITE eight times
ELLIPSIS = "..."

URL = re.compile(r"https?://[^\s<>\"']+")
TYPOGRAPHY = [
    (re.compile(r"«\s*"), '"'),
    (re.compile(r"\s*»"), '"'),
    (re.compile("[\u2018\u2019\u201a\u2032]"), "'"),
    (re.compile("[\u201c\u201d\u201e\u2033]"), '"'),
    (re.compile("[\u00a0\u202f\u2007\u2009]"), " "),
    (re.compile("[\u2010-\u2015\u2212]"), "-"),
    (re.compile("\u2026"), "..."),
    (re.compile("\u0153"), "oe"),
    (re.compile("\u0152"), "OE"),
]


def is_gsm7(text: str) -> bool:
    """Whether the text can be sent in the GSM-7 alphabet."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def encoding_of(text: str) -> str:
    """'GSM-7' or 'UCS-2': the encoding a carrier will use for this text."""
    return "GSM-7" if is_gsm7(text) else "UCS-2"


def _units(ch: str, encoding: str) -> int:
    if encoding == "GSM-7":
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1  # UTF-16 code units


def segment_count(text: str) -> int:
    """How many SMS segments the text takes (a character is never split across two segments)."""
    if not text:
        return 1
    encoding = encoding_of(text)
    units = [_units(ch, encoding) for ch in text]
    if sum(units) <= SINGLE_SEGMENT[encoding]:
        return 1
    capacity, segments, used = MULTIPART_SEGMENT[encoding], 1, 0
    for size in units:
        if used + size > capacity:
            segments, used = segments + 1, 0
        used += size
    return segments


def normalise_typography(text: str) -> str:
    """Replace typographic quotes, spaces, dashes and ellipsis by their GSM-7 equivalents."""
    for pattern, replacement in TYPOGRAPHY:
        text = pattern.sub(replacement, text)
    return text


def fold_accents(text: str) -> str:
    """Drop the accents GSM-7 lacks (ê, â, ç...), keeping those it has (é, è, à, ù)."""
    folded = []
    for ch in text:
        if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
            folded.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        folded.append(base if base and is_gsm7(base) else ch)
    return "".join(folded)


def _cut_points(text: str) -> tuple[list[int], list[int]]:
    """Indices where the text may be cut: after a sentence, and before a space."""
    sentences = [m.end() for m in re.finditer(r"[.!?](?=\s)|\n", text)]
    words = [m.start() for m in re.finditer(r"\s", text)]
    return sentences, words


def shorten(body: str, fits: Callable[[str], bool]) -> str:
    """The longest start of `body`, cut at a sentence or else a word, that fits, ending with its first link."""
    links = URL.findall(body)
    link = links[0] if links else ""

    def candidate(end: int, ellipsis: bool) -> str:
        kept = body[:end].rstrip()
        if link and link not in kept:
            kept = kept.rstrip(" :,;-")
        text = kept + (ELLIPSIS if ellipsis else "")
        return f"{text} {link}" if link and link not in kept else text

    sentences, words = _cut_points(body)
    at_sentence = _longest_fitting(sentences, lambda end: fits(candidate(end, False)))
    at_word = _longest_fitting(words, lambda end: fits(candidate(end, True)))
    # A clean sentence end is preferred unless it keeps much less than a cut between words.
    if at_sentence is not None and (at_word is None or at_sentence >= 0.6 * at_word):
        return candidate(at_sentence, False)
    if at_word is not None:
        return candidate(at_word, True)
    hard = _longest_fitting(list(range(1, len(body))), lambda end: fits(candidate(end, True)))
    return candidate(hard, True) if hard is not None else (link or body[:1])


def _longest_fitting(points: list[int], ok: Callable[[int], bool]) -> int | None:
    """The largest point for which `ok` holds, assuming it holds for every smaller one (binary search)."""
    points = sorted(set(p for p in points if p > 0))
    lo, hi, best = 0, len(points) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if ok(points[mid]):
            best, lo = points[mid], mid + 1
        else:
            hi = mid - 1
    return best


def numbered_menu(buttons: list[Button], notices: Notices) -> str:
    """Buttons as numbered lines and one prompt: « 1. Oui / 2. Non / Répondez 1 ou 2. »."""
    shown = buttons[:MAX_MENU_BUTTONS]
    numbers = [str(i) for i in range(1, len(shown) + 1)]
    if len(numbers) == 1:
        choices = numbers[0]
    else:
        choices = f"{', '.join(numbers[:-1])} {notices.sms_menu_or} {numbers[-1]}"
    lines = [f"{n}. {b.title}" for n, b in zip(numbers, shown, strict=True)]
    return "\n".join(lines + [notices.render("sms_menu_prompt", choices=choices)])


def menu_choice(text: str, menu: list[Button]) -> Button | None:
    """The button a reply such as "2" or " 2. " picks from the menu, if any."""
    match = re.fullmatch(r"\s*(\d{1,2})\s*[.)]?\s*", text or "")
    if not match or not menu:
        return None
    index = int(match.group(1)) - 1
    return menu[index] if 0 <= index < min(len(menu), MAX_MENU_BUTTONS) else None


@dataclass(frozen=True)
class SmsRenderer:
    """Turns the assistant's answer into one SMS that aims at `max_segments` segments."""

    notices: Notices
    max_segments: int = 3
    fold_accents_to_fit: bool = True

    def fits(self, text: str) -> bool:
        """Whether the text stays within the segment budget."""
        return segment_count(text) <= self.max_segments

    def render(self, body: str, buttons: list[Button] | None = None) -> str:
        """One SMS: the body (shortened if needed, keeping its link) and the numbered menu kept whole."""
        tail = numbered_menu(buttons, self.notices) if buttons else ""
        body, tail = normalise_typography(body.strip()), normalise_typography(tail)

        def join(text: str) -> str:
            return f"{text}\n{tail}" if text and tail else text or tail

        if self.fits(join(body)):
            return join(body)
        if self.fold_accents_to_fit:
            folded_body, folded_tail = fold_accents(body), fold_accents(tail)
            if is_gsm7(folded_body + folded_tail):
                body, tail = folded_body, folded_tail
                if self.fits(join(body)):
                    return join(body)
        if not body:
            return tail
        return join(shorten(body, lambda candidate: self.fits(join(candidate))))

    def parts(self, body: str, buttons: list[Button] | None = None) -> list[str]:
        """The answer as SMS parts within the budget, each but the last ending with the « SUITE » hint.

        The body is cut at sentences, else between words (a link is never cut); the numbered menu goes whole with
        the last part, the one the citizen answers. An answer that fits is one part, exactly as `render` gives it.
        """
        tail = numbered_menu(buttons, self.notices) if buttons else ""
        body, tail = normalise_typography(body.strip()), normalise_typography(tail)
        hint = normalise_typography(self.notices.sms_more_hint)

        def join(text: str) -> str:
            return f"{text}\n{tail}" if text and tail else text or tail

        if self.fits(join(body)):
            return [join(body)]
        if self.fold_accents_to_fit and is_gsm7(fold_accents(body + tail + hint)):
            body, tail = fold_accents(body), fold_accents(tail)
            if self.fits(join(body)):
                return [join(body)]
        parts: list[str] = []
        rest = body
        while rest and not self.fits(join(rest)) and len(parts) < MAX_PARTS - 1:
            cut = self._cut(rest, lambda start: self.fits(f"{start.rstrip()}\n{hint}"))
            if cut is None:
                break
            parts.append(f"{rest[:cut].rstrip()}\n{hint}")
            rest = rest[cut:].strip()
        if self.fits(join(rest)):
            return [*parts, join(rest)]
        return [*parts, join(shorten(rest, lambda candidate: self.fits(join(candidate))))]

    @staticmethod
    def _cut(text: str, fits: Callable[[str], bool]) -> int | None:
        """Where to end the part that starts `text`: the last sentence end, else word end, that fits."""
        sentences, words = _cut_points(text)
        at_sentence = _longest_fitting(sentences, lambda end: fits(text[:end]))
        at_word = _longest_fitting(words, lambda end: fits(text[:end]))
        if at_sentence is not None and (at_word is None or at_sentence >= 0.6 * at_word):
            return at_sentence
        if at_word is not None:
            return at_word
        return _longest_fitting(list(range(1, len(text))), lambda end: fits(text[:end]))
