"""Answers made for the ear: numbers, hours, phone numbers and references read as people say them, links left out,
buttons offered as « dites … ou tapez 1 … ».

Only the shape of the text changes here; the French sentences themselves come from domain.yml (`channel: voice`
variants) and from the channel's notices.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from connectors.shared.offers import Button

MAX_SPOKEN_CHOICES = 9  # one keypad digit each

UNITS = "zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize".split()
TENS = {20: "vingt", 30: "trente", 40: "quarante", 50: "cinquante", 60: "soixante"}

URL = re.compile(r"(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
# « 8h30 », « 12h », « 8 h 30 », « 08:30 » (not inside a longer number)
CLOCK_TIME = re.compile(r"(?<![\d,.])([01]?\d|2[0-3]) ?(?:h|:) ?([0-5]\d)?(?![\d])(?!\w)")
ROUND_THE_CLOCK = re.compile(r"\b24 ?h ?/ ?24\b")
EVERY_DAY = re.compile(r"\b7 ?j ?/ ?7\b")
# French numbers: « 05 59 27 85 80 », « 0559278580 », « 0 800 47 33 33 », « +33 5 59 ... »
PHONE = re.compile(
    r"(?<![\w+])(?:\+33\s?[1-9](?:[\s.]?\d{2}){4}|0\s?[1-9](?:[\s.]?\d{2}){4}|0\s?800(?:\s?\d{2}){3})(?!\d)"
)
TICKET_REF = re.compile(r"\b([A-Z]{2,6})-(\d{4})-(\d{6})\b")
EUROS = re.compile(r"(?<![\d,.])(\d{1,4})(?:,(\d{2}))? ?€")
FIRST_OF_MONTH = re.compile(r"\b1er\b")
FEMININE_ONE = re.compile(r"(?<![\d,.])1 (minute|heure|semaine|fois)\b")
SHORT_NUMBER = re.compile(r"(?<![\w,.])\d{1,4}(?![\d,.]\d)(?!\w)")
BULLETS = re.compile(r"^[\s•\-*]+", re.MULTILINE)
SPACES = re.compile(r"[ \t\u00a0\u202f]+")


def number_words(n: int) -> str:
    """A whole number from 0 to 9999 in French words (« soixante et onze », « quatre-vingt-dix-sept »)."""
    if n < 0 or n > 9999:
        raise ValueError(f"{n} is out of range")
    if n <= 16:
        return UNITS[n]
    if n < 20:
        return "dix-" + UNITS[n - 10]
    if n < 70:
        tens, unit = divmod(n, 10)
        word = TENS[tens * 10]
        return word if unit == 0 else f"{word} et un" if unit == 1 else f"{word}-{UNITS[unit]}"
    if n < 80:
        return "soixante et onze" if n == 71 else "soixante-" + number_words(n - 60)
    if n < 100:
        return "quatre-vingts" if n == 80 else "quatre-vingt-" + number_words(n - 80)
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        head = "cent" if hundreds == 1 else f"{UNITS[hundreds]} cent" + ("s" if rest == 0 else "")
        return head if rest == 0 else f"{head} {number_words(rest)}"
    thousands, rest = divmod(n, 1000)
    head = "mille" if thousands == 1 else f"{UNITS[thousands]} mille"
    return head if rest == 0 else f"{head} {number_words(rest)}"


def time_words(hour: int, minute: int) -> str:
    """A clock time as said aloud: « midi », « neuf heures », « huit heures trente », « une heure »."""
    if minute == 0 and hour in (0, 12):
        return "minuit" if hour == 0 else "midi"
    hours = "une heure" if hour == 1 else f"{number_words(hour)} heures"
    if hour == 12:
        hours = "midi"
    return hours if minute == 0 else f"{hours} {number_words(minute)}"


def _spoken_time(match: re.Match[str]) -> str:
    return time_words(int(match.group(1)), int(match.group(2) or 0))


def _spoken_price(match: re.Match[str]) -> str:
    euros, cents = int(match.group(1)), int(match.group(2) or 0)
    said = f"{number_words(euros)} euro" + ("s" if euros > 1 else "")
    return f"{said} {number_words(cents)}" if cents else said


def phone_words(number: str) -> str:
    """A French phone number two digits at a time: « zéro cinq, cinquante-neuf, vingt-sept, … »."""
    digits = re.sub(r"\D", "", number)
    if digits.startswith("33") and number.strip().startswith("+"):
        digits = "0" + digits[2:]
    if digits.startswith("0800") and len(digits) == 10:
        groups = ["zéro", "huit cents"] + [digits[i : i + 2] for i in range(4, 10, 2)]
        return ", ".join(g if not g.isdigit() else _pair(g) for g in groups)
    return ", ".join(_pair(digits[i : i + 2]) for i in range(0, len(digits), 2))


def _pair(pair: str) -> str:
    """Two digits as said in a phone number: « zéro cinq », « cinquante-neuf »."""
    if len(pair) == 2 and pair.startswith("0"):
        return f"zéro {UNITS[int(pair[1])]}"
    return number_words(int(pair))


def reference_words(prefix: str, year: str, serial: str) -> str:
    """A ticket reference spelled slowly: letters one by one, the year, then the digits one by one."""
    letters = ", ".join(prefix)
    digits = ", ".join(UNITS[int(d)] for d in serial)
    return f"{letters}, {number_words(int(year))}, {digits}"


def for_the_ear(text: str) -> str:
    """The text as a voice should read it: links and e-mail addresses dropped, layout flattened, numbers in words."""
    text = URL.sub("", text)
    text = EMAIL.sub("", text)
    text = ROUND_THE_CLOCK.sub("vingt-quatre heures sur vingt-quatre", text)
    text = EVERY_DAY.sub("sept jours sur sept", text)
    text = TICKET_REF.sub(lambda m: reference_words(*m.groups()), text)
    text = PHONE.sub(lambda m: phone_words(m.group(0)), text)
    text = EUROS.sub(_spoken_price, text)
    text = FIRST_OF_MONTH.sub("premier", text)
    text = FEMININE_ONE.sub(r"une \1", text)
    text = CLOCK_TIME.sub(_spoken_time, text)
    text = SHORT_NUMBER.sub(lambda m: number_words(int(m.group(0))), text)
    text = BULLETS.sub("", text)
    lines = [SPACES.sub(" ", line).strip(" :") for line in text.splitlines()]
    sentences = [line if line.endswith((".", "!", "?", ",", ";")) else f"{line}." for line in lines if line]
    return " ".join(sentences).replace(" .", ".").replace(" ,", ",")


def spoken_menu(buttons: list[Button], say: str, press: str, or_word: str) -> str:
    """Buttons as a spoken menu: « Pour Horaires, dites horaires ou tapez 1. » for each choice, in order."""
    lines = []
    for digit, button in enumerate(buttons[:MAX_SPOKEN_CHOICES], start=1):
        title = URL.sub("", button.title).strip()
        lines.append(f"{say} {title} {or_word} {press} {number_words(digit)}.")
    return " ".join(lines)


def fold(text: str) -> str:
    """Lower case, no accents, no punctuation: how spoken words and button titles are compared."""
    bare = unicodedata.normalize("NFD", text.casefold())
    bare = "".join(c for c in bare if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w\s]", " ", bare).split())


def choice_of(spoken: str, digits: str, menu: list[Button]) -> Button | None:
    """The button the caller picked: by keypad digit, or by saying its title (« horaires », « le lieu »)."""
    shown = menu[:MAX_SPOKEN_CHOICES]
    if digits:
        index = int(digits[0]) - 1 if digits[0].isdigit() else -1
        return shown[index] if 0 <= index < len(shown) else None
    said = fold(spoken)
    if not said:
        return None
    for button in shown:
        if fold(button.title) == said:
            return button
    return None


@dataclass(frozen=True)
class YesNo:
    """What a caller's answer to a yes/no question was, by voice or keypad (1 yes, 2 no)."""

    yes: bool
    no: bool


YES_WORDS = {"oui", "ouais", "oui oui", "c est ca", "exactement", "tout a fait", "oui merci", "d accord", "ok", "voila"}
NO_WORDS = {"non", "non merci", "pas du tout", "non non", "ce n est pas ca", "c est pas ca"}


def yes_or_no(spoken: str, digits: str) -> YesNo:
    """Read a yes/no answer; neither when it is something else (a new question)."""
    if digits:
        return YesNo(digits.startswith("1"), digits.startswith("2"))
    said = fold(spoken)
    return YesNo(said in YES_WORDS, said in NO_WORDS)
