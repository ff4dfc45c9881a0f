"""French pieces for answers: times ("8h30"), ranges, durations ("dans 1 h 15"), dates and weekly hours.

Whole sentences live in domain.yml; these functions only produce the pieces that fill their slots.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from bot.town.catalog.hours import FRENCH_WEEKDAYS, PARIS, OpenStatus, elapsed
from bot.town.catalog.models import Gender, Service, TimeRange, WeekSchedule

FRENCH_MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip


def format_time(moment: int | datetime) -> str:
    """ "8h30", "12h", "minuit" from minutes since midnight or an aware datetime (shown in Europe/Paris)."""
    if isinstance(moment, datetime):
        local = moment.astimezone(PARIS)
        minute = local.hour * 60 + local.minute
    else:
        minute = moment
    if minute % 1440 == 0:
        return "minuit"
    hours, minutes = divmod(minute, 60)
    return f"{hours}h{minutes:02d}" if minutes else f"{hours}h"


def format_range(r: TimeRange) -> str:
    """ "de 8h30 à 12h"."""
    return f"de {format_time(r.start)} à {format_time(r.end)}"


def join_french(parts: Sequence[str]) -> str:
    """ "a", "a et b", "a, b et c"."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " et " + parts[-1]


def format_ranges(ranges: Sequence[TimeRange], closed: str = "fermé") -> str:
    """ "de 8h30 à 12h et de 13h30 à 17h", or `closed` when there is none."""
    if not ranges:
        return closed
    return join_french([format_range(r) for r in ranges])


def agree(adjective: str, gender: Gender) -> str:
    """The adjective agreed with the service's gender: agree("ouvert", "f") -> "ouverte"."""
    return adjective + "e" if gender == "f" and not adjective.endswith("e") else adjective


def pronoun(gender: Gender) -> str:
    """ "elle" or "il", to refer back to a service."""
    return "elle" if gender == "f" else "il"


def capitalized(text: str) -> str:
    """The text with its first letter in upper case, for the start of a sentence ("La mairie")."""
    return text[:1].upper() + text[1:]


def format_duration(delta: timedelta) -> str:
    """ "40 minutes", "1 h", "1 h 15", "2 jours" (rounded down to the minute)."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 1:
        return "moins d'une minute"
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        day_part = f"{days} jour" + ("s" if days > 1 else "")
        return f"{day_part} et {hours} h" if hours else day_part
    if hours:
        return f"{hours} h {minutes:02d}" if minutes else f"{hours} h"
    return f"{minutes} minute" + ("s" if minutes > 1 else "")


def format_in(delta: timedelta) -> str:
    """ "dans 40 minutes", "dans 1 h 15"."""
    return f"dans {format_duration(delta)}"


def format_date(day: date, with_year: bool = False) -> str:
    """ "lundi 6 avril", "mercredi 1er juillet" (optionally with the year)."""
    number = "1er" if day.day == 1 else str(day.day)
    text = f"{FRENCH_WEEKDAYS[day.weekday()]} {number} {FRENCH_MONTHS[day.month - 1]}"
    return f"{text} {day.year}" if with_year else text


def format_day(day: date, today: date) -> str:
    """ "aujourd'hui", "demain", "lundi" (within the week) or "le mardi 7 avril"."""
    offset = (day - today).days
    if offset == 0:
        return "aujourd'hui"
    if offset == 1:
        return "demain"
    if 1 < offset < 7:
        return FRENCH_WEEKDAYS[day.weekday()]
    return "le " + format_date(day, with_year=day.year != today.year)


def format_moment(moment: datetime, now: datetime) -> str:
    """ "aujourd'hui à 13h30", "demain à 8h30", "lundi à 8h30", "le mardi 7 avril à 8h30"."""
    local, reference = moment.astimezone(PARIS), now.astimezone(PARIS)
    return f"{format_day(local.date(), reference.date())} à {format_time(local)}"


def format_wait(moment: datetime, now: datetime) -> str:
    """ "dans 40 minutes" until an aware moment, measured in real time (DST-safe)."""
    return format_in(elapsed(now, moment))


def format_week(week: WeekSchedule) -> list[str]:
    """One line per group of consecutive days with the same hours, closed days left out.

    E.g. ["du lundi au vendredi de 8h30 à 12h et de 13h30 à 17h", "le samedi de 9h à 12h"].
    """
    lines: list[str] = []
    first = 0
    for index in range(1, 8):
        if index < 7 and week.days[index] == week.days[first]:
            continue
        ranges = week.days[first]
        if ranges:
            last = index - 1
            if last == first:
                days = f"le {FRENCH_WEEKDAYS[first]}"
            elif last == first + 1:
                days = f"le {FRENCH_WEEKDAYS[first]} et le {FRENCH_WEEKDAYS[last]}"
            else:
                days = f"du {FRENCH_WEEKDAYS[first]} au {FRENCH_WEEKDAYS[last]}"
            lines.append(f"{days} {format_ranges(ranges)}")
        first = index
    return lines


def status_pieces(service: Service, status: OpenStatus) -> dict[str, str]:
    """The French pieces of an opening-hours answer, keyed for the slots of domain.yml templates.

    E.g. "{Service} est {open_word} aujourd'hui {today_ranges}. {Pronoun} ferme {closes_in}."
    """
    pieces = {
        "service": service.label,
        "Service": capitalized(service.label),
        "Pronoun": capitalized(pronoun(service.gender)),
        "open_word": agree("ouvert", service.gender),
        "closed_word": agree("fermé", service.gender),
        "today_ranges": format_ranges(status.today.ranges),
    }
    if status.closes_at and status.closes_in is not None:
        pieces["closes_at"] = format_time(status.closes_at)
        pieces["closes_in"] = format_in(status.closes_in)
    if status.next_opening:
        pieces["next_opening"] = format_moment(status.next_opening, status.at)
        pieces["opens_in"] = format_wait(status.next_opening, status.at)
    if status.today.holiday:
        pieces["holiday"] = status.today.holiday
    if status.today.closure:
        pieces["closure_reason"] = status.today.closure
    return pieces
