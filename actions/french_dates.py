"""The day a citizen means by a `date` or `weekday` entity: "demain", "le 14 juillet", "25/12", "samedi", "noël"."""

from __future__ import annotations

import re
from datetime import date, timedelta

from bot.town.catalog.hours import FRENCH_WEEKDAYS
from bot.town.catalog.matching import fold

RELATIVE_DAYS = {"aujourdhui": 0, "demain": 1, "apres_demain": 2}
MONTHS = {
    "janvier": 1, "janv": 1, "fevrier": 2, "fevr": 2, "fev": 2, "mars": 3, "avril": 4, "avr": 4, "mai": 5,
    "juin": 6, "juillet": 7, "juil": 7, "aout": 8, "septembre": 9, "sept": 9, "octobre": 10, "oct": 10,
    "novembre": 11, "nov": 11, "decembre": 12, "dec": 12,
}  # fmt: skip
NAMED_DAYS = {
    "noel": (12, 25), "jour de l an": (1, 1), "nouvel an": (1, 1), "toussaint": (11, 1),
    "fete nationale": (7, 14), "assomption": (8, 15), "armistice": (11, 11), "fete du travail": (5, 1),
}  # fmt: skip
_NUMERIC = re.compile(r"\b(\d{1,2}) (\d{1,2})(?: (\d{2,4}))?\b")
_WRITTEN = re.compile(r"\b(\d{1,2})(?:er)? (" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\b(?: (\d{4}))?")


def _upcoming(day: int, month: int, year: int | None, today: date) -> date | None:
    """The date, in the given year or else the next time it comes (today included)."""
    try:
        if year is not None:
            return date(year + 2000 if year < 100 else year, month, day)
        candidate = date(today.year, month, day)
        return candidate if candidate >= today else date(today.year + 1, month, day)
    except ValueError:
        return None  # 31 février, 29 février of a common year


def parse_date(text: str, today: date) -> date | None:
    """The date meant by a typed or canonical date; a date without a year is the next one to come."""
    if text in RELATIVE_DAYS:
        return today + timedelta(days=RELATIVE_DAYS[text])
    folded = fold(text)
    if folded.replace(" ", "") in RELATIVE_DAYS or folded.replace(" ", "_") in RELATIVE_DAYS:
        key = folded.replace(" ", "") if folded.replace(" ", "") in RELATIVE_DAYS else folded.replace(" ", "_")
        return today + timedelta(days=RELATIVE_DAYS[key])
    if found := _WRITTEN.search(folded):
        year = int(found.group(3)) if found.group(3) else None
        return _upcoming(int(found.group(1)), MONTHS[found.group(2)], year, today)
    if found := _NUMERIC.search(folded):
        year = int(found.group(3)) if found.group(3) else None
        return _upcoming(int(found.group(1)), int(found.group(2)), year, today)
    for name, (month, day) in NAMED_DAYS.items():
        if name in folded:
            return _upcoming(day, month, None, today)
    return None


def parse_weekday(text: str) -> int | None:
    """0 = Monday, from a weekday as typed ("samedi", "sam", "samdi"); None when it is not one."""
    folded = fold(text)
    for index, name in enumerate(FRENCH_WEEKDAYS):
        if folded == name or (len(folded) >= 3 and name.startswith(folded[:3])):
            return index
    return None


def next_weekday(weekday: int, today: date) -> date:
    """The next such weekday from today, today included."""
    return today + timedelta(days=(weekday - today.weekday()) % 7)
