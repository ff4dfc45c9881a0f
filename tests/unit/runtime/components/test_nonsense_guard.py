"""Messages with no understandable French are recognised, French as citizens write it is not."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.runtime.components.nonsense_guard import detect_foreign, fold, judge, judge_message, training_vocabulary, words

KNOWN = training_vocabulary(["horaires de la mairie", "ou est la piscine", "nid de poule rue serviez"])
# Keyboard rows have word vectors in fr_core_news_md: they must still count as mashing.
VECTORS = {
    "horaires": True,
    "mairie": True,
    "piscine": True,
    "rue": True,
    "bonjour": True,
    "wxcvbn": True,
    "azertyuiop": True,
    "poiuytreza": True,
}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("123456", "no_letters"),
        ("", "no_letters"),
        ("🙂🙂", "no_letters"),
        ("?!?!", "no_letters"),
        ("06 12 34", "no_letters"),
        ("qsdfghjk azertyuiop wxcvbn", "gibberish"),
        ("wxcvbn poiuytreza", "gibberish"),
        ("what time does the town hall open", "foreign_language"),
        ("wo ist das rathaus bitte", "foreign_language"),
        ("dónde está el ayuntamiento", "foreign_language"),
    ],
)
def test_nonsense_is_recognised(text: str, reason: str) -> None:
    assert judge(text, KNOWN, VECTORS).reason == reason


@pytest.mark.parametrize(
    "text",
    [
        "horaires mairie",
        "horraires de la mairi",
        "ou est la pisine",
        "bonjour",
        "ok",
        "nid de poule rue serviez",
        "PAU-2026-000123",
    ],
)
def test_french_as_citizens_write_it_passes(text: str) -> None:
    assert judge(text, KNOWN, VECTORS).reason is None


def test_french_function_words_rule_out_a_foreign_language() -> None:
    assert not detect_foreign(words("the pool est fermee le dimanche"))


def test_folding_removes_accents_and_case() -> None:
    assert fold("Médiathèque ÉTÉ") == "mediatheque ete"


REGEX = "RegexEntityExtractor"


def parsed(text: str, entities: list[dict]) -> Message:
    return Message(data={"text": text, "entities": entities})


def test_numbers_stay_nonsense_even_when_a_classifier_tags_them_as_entities() -> None:
    tags = [{"entity": "weekday", "start": 0, "end": 2}, {"entity": "weekday", "start": 3, "end": 5}]
    message = parsed("06 07", tags)
    assert judge_message(message, KNOWN, VECTORS).reason == "no_letters"


def test_a_message_made_only_of_entities_is_understood() -> None:
    message = parsed("PAU-2026-000123", [{"entity": "ticket_ref", "start": 0, "end": 15, "extractor": REGEX}])
    assert judge_message(message, KNOWN, VECTORS).reason is None


def test_gibberish_around_an_entity_is_still_nonsense() -> None:
    tags = [{"entity": "ticket_ref", "start": 9, "end": 24, "extractor": REGEX}]
    message = parsed("qsdfghjk PAU-2026-000123 wxcvbnqs", tags)
    assert judge_message(message, KNOWN, VECTORS).reason == "gibberish"


def test_keyboard_mashing_tagged_as_an_address_by_the_classifier_is_still_nonsense() -> None:
    message = parsed("wxcvbn poiuytreza", [{"entity": "address", "start": 0, "end": 17, "extractor": "DIETClassifier"}])
    assert judge_message(message, KNOWN, VECTORS).reason == "gibberish"


@pytest.mark.parametrize("address", ["paul.e19f05@exemple.fr", "qxz.wkv+mairie@bzh-mail.example", "jp.dupont@free.fr"])
def test_an_email_address_given_as_a_contact_is_never_nonsense(address: str) -> None:
    # the report form asks for a phone or an e-mail: random-looking letters in an address are not gibberish
    assert judge_message(parsed(address, []), KNOWN, VECTORS).reason is None
    assert judge_message(parsed(f"qsdfghjk {address} wxcvbnqs", []), KNOWN, VECTORS).reason == "gibberish"
