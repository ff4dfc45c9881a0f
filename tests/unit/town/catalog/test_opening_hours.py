"""Opening hours of the sample town, computed in Europe/Paris with holidays, closures, seasons and DST."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.town.catalog import PARIS, Catalog, hours_on, hours_on_weekday, load_catalog, next_opening, status_at
from bot.town.catalog.formatting import (
    agree,
    format_date,
    format_day,
    format_duration,
    format_in,
    format_moment,
    format_ranges,
    format_time,
    format_wait,
    format_week,
    status_pieces,
)
from bot.town.catalog.hours import is_open_at, today_hours, weekday_index
from bot.town.catalog.models import TimeRange

TOWN = Path(__file__).resolve().parents[4] / "data" / "town"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(TOWN)


def paris(text: str) -> datetime:
    """A wall-clock time in Pau, e.g. "2026-03-10 10:00"."""
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def local_text(moment: datetime | None) -> str | None:
    return moment.astimezone(PARIS).strftime("%Y-%m-%d %H:%M") if moment else None


# (case, service, moment, open?, closes at (local, when open), next opening (local))
CASES = [
    ("weekday morning", "mairie", paris("2026-03-10 10:00"), True, "2026-03-10 12:00", "2026-03-10 13:30"),
    ("lunch break", "mairie", paris("2026-03-10 12:30"), False, None, "2026-03-10 13:30"),
    ("evening", "mairie", paris("2026-03-10 18:00"), False, None, "2026-03-11 08:30"),
    ("closes in 40 minutes", "mairie", paris("2026-03-10 16:20"), True, "2026-03-10 17:00", "2026-03-11 08:30"),
    ("opening minute is open", "mairie", paris("2026-03-10 08:30"), True, "2026-03-10 12:00", "2026-03-10 13:30"),
    ("closing minute is closed", "mairie", paris("2026-03-10 17:00"), False, None, "2026-03-11 08:30"),
    ("Saturday, town hall", "mairie", paris("2026-03-14 10:00"), False, None, "2026-03-16 08:30"),
    ("Saturday, civil status", "etat_civil", paris("2026-03-14 10:00"), True, "2026-03-14 12:00", "2026-03-16 08:30"),
    ("Sunday", "mairie", paris("2026-03-15 10:00"), False, None, "2026-03-16 08:30"),
    ("1 January", "mairie", paris("2026-01-01 10:00"), False, None, "2026-01-02 08:30"),
    ("14 July", "mairie", paris("2026-07-14 10:00"), False, None, "2026-07-15 08:30"),
    ("Easter Monday", "mairie", paris("2026-04-06 10:00"), False, None, "2026-04-07 08:30"),
    ("across weekend and Easter Monday", "mairie", paris("2026-04-03 17:30"), False, None, "2026-04-07 08:30"),
    ("25 December", "mairie", paris("2026-12-25 10:00"), False, None, "2026-12-28 08:30"),
    ("24 December morning", "mairie", paris("2026-12-24 10:00"), True, "2026-12-24 12:00", "2026-12-28 08:30"),
    ("24 December afternoon closure", "mairie", paris("2026-12-24 14:00"), False, None, "2026-12-28 08:30"),
    ("training day", "mairie", paris("2026-10-16 10:00"), False, None, "2026-10-19 08:30"),
    ("bridge day closure", "etat_civil", paris("2026-12-26 10:00"), False, None, "2026-12-28 08:30"),
    ("pool in summer", "piscine", paris("2026-07-20 11:00"), True, "2026-07-20 19:30", "2026-07-21 10:00"),
    ("pool in winter", "piscine", paris("2026-03-09 11:00"), False, None, "2026-03-09 12:00"),
    ("pool on 14 July", "piscine", paris("2026-07-14 11:00"), True, "2026-07-14 19:30", "2026-07-15 10:00"),
    ("pool drained in September", "piscine", paris("2026-09-05 11:00"), False, None, "2026-09-14 12:00"),
    ("spring DST, before opening", "piscine", utc("2026-03-29 06:30"), False, None, "2026-03-29 09:00"),
    ("spring DST, open", "piscine", utc("2026-03-29 07:30"), True, "2026-03-29 13:00", "2026-03-30 12:00"),
    ("autumn DST, before opening", "piscine", utc("2026-10-25 07:30"), False, None, "2026-10-25 09:00"),
    ("autumn DST night", "piscine", paris("2026-10-24 20:00"), False, None, "2026-10-25 09:00"),
    (
        "police on a holiday",
        "police_municipale",
        paris("2026-07-14 10:00"),
        True,
        "2026-07-14 17:00",
        "2026-07-15 07:30",
    ),
    (
        "cemetery on All Saints' Day",
        "cimetiere",
        paris("2026-11-01 10:00"),
        True,
        "2026-11-01 18:00",
        "2026-11-02 08:00",
    ),
    ("cemetery summer evening", "cimetiere", paris("2026-06-01 19:00"), True, "2026-06-01 19:30", "2026-06-02 08:00"),
    ("library closed on Monday", "mediatheque", paris("2026-03-09 11:00"), False, None, "2026-03-10 12:00"),
    (
        "tourist office summer Sunday lunch",
        "office_tourisme",
        paris("2026-07-19 13:30"),
        False,
        None,
        "2026-07-19 14:00",
    ),
]


@pytest.mark.parametrize(
    ("service_id", "moment", "is_open", "closes", "reopens"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_citizen_asks_whether_a_service_is_open(catalog, service_id, moment, is_open, closes, reopens):
    status = status_at(catalog.service(service_id), moment)
    assert (status.is_open, local_text(status.closes_at), local_text(status.next_opening)) == (is_open, closes, reopens)
    assert is_open_at(catalog.service(service_id), moment) is is_open


def test_answer_pieces_read_naturally(catalog):
    mairie = catalog.service("mairie")
    pieces = status_pieces(mairie, status_at(mairie, paris("2026-03-10 16:20")))
    sentence = "{Service} est {open_word} aujourd'hui {today_ranges}. {Pronoun} ferme {closes_in}.".format(**pieces)
    assert sentence == "La mairie est ouverte aujourd'hui de 8h30 à 12h et de 13h30 à 17h. Elle ferme dans 40 minutes."


@pytest.mark.parametrize(
    ("service_id", "moment", "expected"),
    [
        ("ccas", paris("2026-03-14 10:00"), {"closed_word": "fermé", "next_opening": "lundi à 8h30"}),
        ("mairie", paris("2026-07-14 10:00"), {"holiday": "Fête nationale", "next_opening": "demain à 8h30"}),
        ("mairie", paris("2026-12-24 14:00"), {"closure_reason": "veille de Noël", "today_ranges": "de 8h30 à 12h"}),
        ("piscine", paris("2026-03-09 11:30"), {"opens_in": "dans 30 minutes", "Pronoun": "Elle"}),
    ],
)
def test_closed_answers_say_why_and_when_it_reopens(catalog, service_id, moment, expected):
    service = catalog.service(service_id)
    pieces = status_pieces(service, status_at(service, moment))
    assert {key: pieces.get(key) for key in expected} == expected
    assert "closes_in" not in pieces


def test_town_hall_closes_in_40_minutes(catalog):
    status = status_at(catalog.service("mairie"), paris("2026-03-10 16:20"))
    assert status.closes_in == timedelta(minutes=40)
    assert format_in(status.closes_in) == "dans 40 minutes"
    assert format_ranges(status.today.ranges) == "de 8h30 à 12h et de 13h30 à 17h"


@pytest.mark.parametrize(
    ("moment", "opens_in"),
    [
        (utc("2026-03-29 06:30"), timedelta(minutes=30)),  # 08:30 CEST, the clocks just went forward
        (utc("2026-10-25 07:30"), timedelta(minutes=30)),  # 08:30 CET, the clocks just went back
        (paris("2026-10-24 20:00"), timedelta(hours=14)),  # 13 h on the wall clock, 14 h in real time
        (paris("2026-03-28 20:00"), timedelta(hours=12)),  # 13 h on the wall clock, 12 h in real time
    ],
)
def test_waiting_time_is_real_time_across_daylight_saving_changes(catalog, moment, opens_in):
    assert status_at(catalog.service("piscine"), moment).opens_in == opens_in


def test_spring_dst_closing_time_is_in_summer_time(catalog):
    status = status_at(catalog.service("piscine"), utc("2026-03-29 07:30"))
    assert status.closes_at == utc("2026-03-29 11:00")
    assert status.closes_in == timedelta(hours=3, minutes=30)


@pytest.mark.parametrize(
    ("service_id", "day", "ranges", "holiday", "closure", "season"),
    [
        ("mairie", date(2026, 3, 10), "de 8h30 à 12h et de 13h30 à 17h", None, None, None),
        ("mairie", date(2026, 7, 14), "fermé", "Fête nationale", None, None),
        ("mairie", date(2026, 4, 6), "fermé", "Lundi de Pâques", None, None),
        ("mairie", date(2026, 12, 24), "de 8h30 à 12h", None, "veille de Noël", None),
        ("mairie", date(2026, 10, 16), "fermé", None, "journée de formation des agents", None),
        ("piscine", date(2026, 7, 20), "de 10h à 19h30", None, None, "horaires d'été"),
        ("piscine", date(2026, 3, 9), "de 12h à 13h30 et de 17h à 20h", None, None, None),
        ("piscine", date(2026, 7, 14), "de 10h à 19h30", "Fête nationale", None, "horaires d'été"),
        ("mediatheque", date(2026, 12, 24), "de 12h à 17h", None, "veille de Noël", None),
    ],
)
def test_hours_on_a_date_explain_why_they_differ(catalog, service_id, day, ranges, holiday, closure, season):
    hours = hours_on(catalog.service(service_id), day)
    assert (format_ranges(hours.ranges), hours.holiday, hours.closure, hours.season) == (
        ranges,
        holiday,
        closure,
        season,
    )


@pytest.mark.parametrize(
    ("weekday", "day", "ranges"),
    [
        ("samedi", date(2026, 3, 14), "de 9h à 12h"),
        ("lundi", date(2026, 3, 16), "de 8h30 à 12h et de 13h30 à 17h"),
        ("mardi", date(2026, 3, 10), "de 8h30 à 12h et de 13h30 à 17h"),  # today counts
        ("dimanche", date(2026, 3, 15), "fermé"),
    ],
)
def test_citizen_asks_about_a_weekday(catalog, weekday, day, ranges):
    hours = hours_on_weekday(catalog.service("etat_civil"), weekday, paris("2026-03-10 10:00"))
    assert (hours.day, format_ranges(hours.ranges)) == (day, ranges)


def test_weekday_on_a_holiday_says_so(catalog):
    hours = hours_on_weekday(catalog.service("mairie"), "lundi", paris("2026-04-03 10:00"))
    assert (hours.day, hours.is_open, hours.holiday) == (date(2026, 4, 6), False, "Lundi de Pâques")


@pytest.mark.parametrize("name", ["lundi", "Lundi", "monday", 0])
def test_weekday_names_are_understood(name):
    assert weekday_index(name) == 0


def test_today_follows_the_paris_calendar_not_utc(catalog):
    # 23:30 UTC on Sunday is already Monday in Pau.
    assert today_hours(catalog.service("mairie"), utc("2026-03-15 23:30")).day == date(2026, 3, 16)


def test_a_naive_clock_is_refused(catalog):
    with pytest.raises(ValueError, match="aware"):
        status_at(catalog.service("mairie"), datetime(2026, 3, 10, 10, 0))


class NoHolidays:
    def holiday_name(self, day: date) -> str | None:
        return None


def test_holiday_calendar_is_injectable(catalog):
    assert status_at(catalog.service("mairie"), paris("2026-07-14 10:00"), NoHolidays()).is_open


def test_a_service_that_never_opens_has_no_next_opening(catalog):
    mairie = catalog.service("mairie")
    closed = type(mairie)(**{**mairie.__dict__, "hours": type(mairie.hours)(days=((),) * 7)})
    assert next_opening(closed, paris("2026-03-10 10:00")) is None


@pytest.mark.parametrize(
    ("minute", "text"),
    [(510, "8h30"), (720, "12h"), (1170, "19h30"), (545, "9h05"), (1440, "minuit"), (0, "minuit")],
)
def test_times_read_the_french_way(minute, text):
    assert format_time(minute) == text


@pytest.mark.parametrize(
    ("ranges", "text"),
    [
        ((), "fermé"),
        ((TimeRange(510, 720),), "de 8h30 à 12h"),
        ((TimeRange(510, 720), TimeRange(810, 1020)), "de 8h30 à 12h et de 13h30 à 17h"),
        ((TimeRange(480, 600), TimeRange(660, 720), TimeRange(840, 1020)), "de 8h à 10h, de 11h à 12h et de 14h à 17h"),
    ],
)
def test_ranges_read_the_french_way(ranges, text):
    assert format_ranges(ranges) == text


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=30), "dans moins d'une minute"),
        (timedelta(minutes=1), "dans 1 minute"),
        (timedelta(minutes=40), "dans 40 minutes"),
        (timedelta(minutes=40, seconds=59), "dans 40 minutes"),
        (timedelta(hours=1), "dans 1 h"),
        (timedelta(hours=1, minutes=15), "dans 1 h 15"),
        (timedelta(hours=2, minutes=5), "dans 2 h 05"),
        (timedelta(days=2, hours=3), "dans 2 jours et 3 h"),
        (timedelta(days=1), "dans 1 jour"),
    ],
)
def test_durations_read_the_french_way(delta, text):
    assert format_in(delta) == text


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (paris("2026-03-10 13:30"), "aujourd'hui à 13h30"),
        (paris("2026-03-11 08:30"), "demain à 8h30"),
        (paris("2026-03-16 08:30"), "lundi à 8h30"),
        (paris("2026-04-07 08:30"), "le mardi 7 avril à 8h30"),
        (paris("2027-01-04 08:30"), "le lundi 4 janvier 2027 à 8h30"),
    ],
)
def test_next_opening_reads_relative_to_today(moment, text):
    assert format_moment(moment, paris("2026-03-10 12:30")) == text


def test_dates_agreement_and_waits_read_the_french_way():
    assert format_date(date(2026, 7, 1)) == "mercredi 1er juillet"
    assert format_day(date(2026, 3, 10), date(2026, 3, 10)) == "aujourd'hui"
    assert (agree("ouvert", "f"), agree("ouvert", "m"), agree("fermé", "f")) == ("ouverte", "ouvert", "fermée")
    assert format_wait(utc("2026-03-29 07:00"), utc("2026-03-29 06:30")) == "dans 30 minutes"
    assert format_duration(timedelta(minutes=75)) == "1 h 15"


def test_weekly_hours_are_grouped_by_identical_days(catalog):
    assert format_week(catalog.service("etat_civil").hours) == [
        "du lundi au vendredi de 8h30 à 12h et de 13h30 à 17h",
        "le samedi de 9h à 12h",
    ]
    assert format_week(catalog.service("mediatheque").hours) == [
        "le mardi de 12h à 19h",
        "le mercredi de 10h à 19h",
        "le jeudi et le vendredi de 12h à 19h",
        "le samedi de 10h à 18h",
        "le dimanche de 14h à 18h",
    ]
