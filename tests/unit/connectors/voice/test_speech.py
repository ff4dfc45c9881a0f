"""Answers read for the ear: numbers, hours, phone numbers and references in words, links dropped, choices by voice
or keypad."""

from __future__ import annotations

import pytest

from connectors.shared.offers import Button
from connectors.voice.speech import choice_of, for_the_ear, number_words, phone_words, time_words, yes_or_no


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zéro"), (16, "seize"), (17, "dix-sept"), (21, "vingt et un"), (30, "trente"), (71, "soixante et onze"),
        (77, "soixante-dix-sept"), (80, "quatre-vingts"), (81, "quatre-vingt-un"), (91, "quatre-vingt-onze"),
        (100, "cent"), (200, "deux cents"), (205, "deux cent cinq"), (1000, "mille"), (2026, "deux mille vingt-six"),
    ],
)  # fmt: skip
def test_numbers_are_french_words(n: int, words: str) -> None:
    assert number_words(n) == words


@pytest.mark.parametrize(
    ("hour", "minute", "words"),
    [(9, 0, "neuf heures"), (12, 0, "midi"), (8, 30, "huit heures trente"), (1, 0, "une heure"), (0, 0, "minuit")],
)
def test_times_are_said_as_people_say_them(hour: int, minute: int, words: str) -> None:
    assert time_words(hour, minute) == words


def test_opening_hours_are_read_in_words() -> None:
    spoken = for_the_ear("La mairie est ouverte aujourd'hui de 8h30 à 12h et de 13h30 à 17h.")
    assert spoken == (
        "La mairie est ouverte aujourd'hui de huit heures trente à midi et de treize heures trente à dix-sept heures."
    )


def test_phone_numbers_are_read_two_digits_at_a_time() -> None:
    assert phone_words("05 59 27 85 80") == "zéro cinq, cinquante-neuf, vingt-sept, quatre-vingt-cinq, quatre-vingts"
    assert "zéro, huit cents, quarante-sept" in for_the_ear("GRDF 0 800 47 33 33 (24h/24)")
    assert "vingt-quatre heures sur vingt-quatre" in for_the_ear("GRDF 0 800 47 33 33 (24h/24)")


def test_links_and_email_addresses_are_not_read_and_lines_become_sentences() -> None:
    spoken = for_the_ear("Pour joindre la mairie :\nTéléphone : 05 59 27 85 80\nSite : https://www.pau.fr/mairie")
    assert "http" not in spoken and "www" not in spoken and "\n" not in spoken
    assert spoken.startswith("Pour joindre la mairie. Téléphone : zéro cinq")


def test_a_reference_is_spelled_slowly() -> None:
    assert for_the_ear("Référence PAU-2026-000123.") == (
        "Référence P, A, U, deux mille vingt-six, zéro, zéro, zéro, un, deux, trois."
    )


MENU = [Button("Horaires", "/ask_opening_hours"), Button("Le lieu", '/inform{"report_edit": "location"}')]


def test_a_choice_is_picked_by_keypad_digit_or_by_its_title() -> None:
    assert choice_of("", "2", MENU) == MENU[1]
    assert choice_of("le lieu", "", MENU) == MENU[1]
    assert choice_of("Horaires !", "", MENU) == MENU[0]
    assert choice_of("", "7", MENU) is None and choice_of("les horaires de la piscine", "", MENU) is None


@pytest.mark.parametrize(
    ("speech", "digits", "yes", "no"),
    [("Oui.", "", True, False), ("non merci", "", False, True), ("", "1", True, False), ("", "2", False, True),
     ("quels sont les horaires", "", False, False)],
)  # fmt: skip
def test_yes_and_no_by_voice_or_keypad(speech: str, digits: str, yes: bool, no: bool) -> None:
    answer = yes_or_no(speech, digits)
    assert (answer.yes, answer.no) == (yes, no)


@pytest.mark.parametrize(
    ("written", "spoken"),
    [("Coût : 25 €.", "Coût : vingt-cinq euros."), ("3,50 €", "trois euros cinquante."), ("1 €", "un euro."),
     ("dans 1 minute", "dans une minute."), ("Elle ferme dans 1 h 15.", "Elle ferme dans une heure quinze."),
     ("lundi 1er décembre", "lundi premier décembre.")],
)  # fmt: skip
def test_prices_durations_and_dates_are_said_as_people_say_them(written: str, spoken: str) -> None:
    assert for_the_ear(written) == spoken
