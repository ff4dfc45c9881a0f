"""SMS answers fit in a few segments, keep their link, and turn buttons into a numbered menu."""

from __future__ import annotations

import pytest

from connectors.shared.notices import Notices
from connectors.shared.offers import Button
from connectors.sms.rendering import (
    SmsRenderer,
    encoding_of,
    fold_accents,
    menu_choice,
    normalise_typography,
    numbered_menu,
    segment_count,
)

LINK = "https://www.service-public.fr/particuliers/vosdroits/N358"
BUTTONS = [
    Button("Horaires", "/ask_opening_hours"),
    Button("Adresse", "/ask_service_location"),
    Button("Contact", "/ask_service_contact"),
]


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("é" * 160, "GSM-7", 1),  # é, è, à, ù are in the GSM-7 alphabet
        ("€" * 80, "GSM-7", 1),  # extension characters take two septets
        ("€" * 81, "GSM-7", 2),
        ("ê" * 70, "UCS-2", 1),
        ("ê" * 71, "UCS-2", 2),
        ("ê" * 134, "UCS-2", 2),
        ("ê" * 135, "UCS-2", 3),
        ("🙂" * 35, "UCS-2", 1),  # an emoji is two UTF-16 units
        ("🙂" * 36, "UCS-2", 2),
        ("Ouverte à 8h30 « aujourd'hui »", "UCS-2", 1),
    ],
)
def test_segments_are_counted_per_encoding(text: str, encoding: str, segments: int) -> None:
    assert encoding_of(text) == encoding
    assert segment_count(text) == segments


def test_extension_character_is_not_split_across_segments() -> None:
    assert segment_count("a" * 152 + "€" + "a" * 10) == 2
    assert segment_count("a" * 152 + "€" + "a" * 152) == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("« Bonjour »", '"Bonjour"'),
        ("l’état civil", "l'état civil"),
        ("8h30\u00a0–\u00a017h", "8h30 - 17h"),
        ("et après…", "et après..."),
        ("cœur", "coeur"),
    ],
)
def test_typography_is_made_gsm_friendly(text: str, expected: str) -> None:
    assert normalise_typography(text) == expected


def test_accents_missing_from_gsm7_are_folded_and_the_others_kept() -> None:
    assert fold_accents("Fête à la piscine, ça côte") == "Fete à la piscine, ca cote"
    assert fold_accents("été 🙂") == "été 🙂"


def test_short_answer_is_sent_as_written() -> None:
    renderer = SmsRenderer(Notices())
    assert renderer.render("La mairie ouvre à 8h30.") == "La mairie ouvre à 8h30."


def test_numbered_menu_lists_buttons_and_asks_for_a_number() -> None:
    assert numbered_menu(BUTTONS, Notices()) == "1. Horaires\n2. Adresse\n3. Contact\nRépondez 1, 2 ou 3."
    assert numbered_menu(BUTTONS[:1], Notices()).endswith("Répondez 1.")


def test_long_answer_is_shortened_to_three_segments_at_a_sentence_and_keeps_its_link() -> None:
    sentence = "Pour une carte d'identité, prenez rendez-vous en mairie avec votre justificatif de domicile. "
    text = sentence * 8 + f"Tout est expliqué sur {LINK} avec la liste des pièces."
    sms = SmsRenderer(Notices()).render(text, BUTTONS)
    assert segment_count(sms) <= 3
    body, menu = sms.split("\n1. ")
    assert body.endswith(LINK)
    assert body.startswith(sentence.strip())
    assert menu.endswith("Répondez 1, 2 ou 3.")


def test_answer_that_fits_only_without_rare_accents_is_folded_rather_than_cut() -> None:
    text = "Bienvenue à la fête des côtes : " + "entrée libre pour tous, " * 12
    sms = SmsRenderer(Notices()).render(text)
    assert encoding_of(sms) == "GSM-7" and segment_count(sms) <= 3
    assert "fete des cotes" in sms and sms.endswith("tous,")


def test_answer_keeps_accents_when_folding_is_disabled_and_is_cut_between_words() -> None:
    text = "Fête " + "très longue phrase sans point " * 20
    sms = SmsRenderer(Notices(), fold_accents_to_fit=False).render(text)
    assert sms.startswith("Fête") and sms.endswith("...")
    assert segment_count(sms) <= 3


def test_emoji_answer_stays_ucs2_and_fits() -> None:
    sms = SmsRenderer(Notices()).render("🙂 " * 200)
    assert segment_count(sms) <= 3


@pytest.mark.parametrize(
    ("reply", "picked"),
    [
        ("1", "/ask_opening_hours"),
        (" 2 ", "/ask_service_location"),
        ("3.", "/ask_service_contact"),
        ("4", None),
        ("0", None),
        ("un", None),
        ("12", None),
    ],
)
def test_numbered_reply_picks_the_button(reply: str, picked: str | None) -> None:
    choice = menu_choice(reply, BUTTONS)
    assert (choice.payload if choice else None) == picked


def test_number_without_a_menu_picks_nothing() -> None:
    assert menu_choice("1", []) is None


def test_a_long_answer_is_split_into_parts_that_each_fit_and_say_how_to_read_on() -> None:
    sentence = "Pour une carte d'identité, prenez rendez-vous en mairie avec votre justificatif de domicile. "
    text = sentence * 8 + f"Tout est expliqué sur {LINK} avec la liste des pièces."
    parts = SmsRenderer(Notices()).parts(text, BUTTONS)

    assert len(parts) >= 2 and all(segment_count(part) <= 3 for part in parts)
    assert all(part.endswith("\n(suite : envoyez SUITE)") for part in parts[:-1])
    assert "SUITE" not in parts[-1] and parts[-1].endswith("Répondez 1, 2 ou 3.")  # the menu goes with the last part
    assert "..." not in "".join(parts)  # nothing is cut away
    read = " ".join(p.removesuffix("\n(suite : envoyez SUITE)").split("\n1. ")[0] for p in parts)
    assert read.split() == text.split()
    assert LINK in parts[-1]


def test_an_answer_that_fits_is_one_part_as_rendered() -> None:
    renderer = SmsRenderer(Notices())
    assert renderer.parts("Horaires : 9h-17h.", BUTTONS) == [renderer.render("Horaires : 9h-17h.", BUTTONS)]


def test_a_very_long_answer_stops_at_the_part_limit_and_is_shortened_there() -> None:
    parts = SmsRenderer(Notices(), max_segments=1).parts("Un mot de plus. " * 400)
    assert len(parts) == 8 and all(segment_count(part) <= 1 for part in parts)
    assert parts[-1].endswith("...") or parts[-1].endswith(".")
