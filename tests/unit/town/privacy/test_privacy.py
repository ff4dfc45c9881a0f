"""Personal data is masked before storage, on review screens and in process logs; everything else stays."""

from __future__ import annotations

import copy
import io
import logging
from collections.abc import Iterator

import pytest
from stdnum import iban, luhn
from stdnum.fr import nir

from bot.town.privacy import (
    PLACEHOLDERS,
    MaskingFilter,
    find_personal_data,
    mask_event,
    mask_for_review,
    mask_logs,
    mask_text,
)
from bot.town.privacy.logs import SUPPRESSED, uninstall_record_factory

PHONE, EMAIL, IBAN, NIR, CARD = (PLACEHOLDERS[k] for k in ("phone", "email", "iban", "nir", "card"))
ADDRESS = PLACEHOLDERS["address"]

# (text a citizen could write, the raw value that must disappear, the placeholder that must replace it)
POSITIVE = [
    # phone numbers, French and international, as people write them
    ("06 12 34 56 78", "06 12 34 56 78", PHONE),
    ("06.12.34.56.78", "06.12.34.56.78", PHONE),
    ("06-12-34-56-78", "06-12-34-56-78", PHONE),
    ("0612345678", "0612345678", PHONE),
    ("0612 34 56 78", "0612 34 56 78", PHONE),
    ("+33 6 12 34 56 78", "+33 6 12 34 56 78", PHONE),
    ("+33612345678", "+33612345678", PHONE),
    ("0033 6 12 34 56 78", "0033 6 12 34 56 78", PHONE),
    ("+33 (0)6 12 34 56 78", "6 12 34 56 78", PHONE),
    ("+44 20 7946 0958", "7946 0958", PHONE),
    ("+1 415 555 2671", "555 2671", PHONE),
    ("+32 2 555 12 12", "555 12 12", PHONE),
    ("0049 30 1234567", "1234567", PHONE),
    ("+34 612 34 56 78", "612 34 56 78", PHONE),
    ("+49 151 23456789", "23456789", PHONE),
    ("mon num c 0612345678 rappelez moi", "0612345678", PHONE),
    ("tel0612345678", "0612345678", PHONE),
    ("appelez moi au 07 98 76 54 32 svp", "07 98 76 54 32", PHONE),
    ("Mon fixe : 05 59 27 85 80.", "05 59 27 85 80", PHONE),
    ("RAPPELEZ MOI AU 06.12.34.56.78 MERCI", "06.12.34.56.78", PHONE),
    ("tél:+33 5 59 27 85 80", "5 59 27 85 80", PHONE),
    ("le 0612345678 est mon portable", "0612345678", PHONE),
    ("mon numéro est le 09 87 65 43 21", "09 87 65 43 21", PHONE),
    ("06 12 34 56 78 ou 07 98 76 54 32", "07 98 76 54 32", PHONE),
    ("06 12 34 56 78 07 98 76 54 32", "06 12 34 56 78", PHONE),
    ("0612345678 0798765432", "0798765432", PHONE),
    ("Tel. 06 12 34 56 78/07 98 76 54 32", "07 98 76 54 32", PHONE),
    # e-mail addresses
    ("jean.dupont@gmail.com", "jean.dupont@gmail.com", EMAIL),
    ("JEAN.DUPONT@GMAIL.COM", "JEAN.DUPONT@GMAIL.COM", EMAIL),
    ("Mail:Paul.Martin@Wanadoo.FR", "Paul.Martin@Wanadoo.FR", EMAIL),
    ("écrivez-moi : marie-claire.durand+pau@orange.fr merci", "marie-claire.durand+pau@orange.fr", EMAIL),
    ("jérôme.müller@laposte.net", "jérôme.müller@laposte.net", EMAIL),
    ("mon mail c jdupont64@hotmail.fr", "jdupont64@hotmail.fr", EMAIL),
    ("contact: j_dupont@sub.domaine.co.uk.", "j_dupont@sub.domaine.co.uk", EMAIL),
    ("(jean@exemple.fr)", "jean@exemple.fr", EMAIL),
    ("jean.dupont @ free.fr", "jean.dupont", EMAIL),
    ("jean.dupont (at) free.fr", "jean.dupont", EMAIL),
    ("jean.dupont[at]free.fr", "jean.dupont", EMAIL),
    ("jean.dupont arobase free.fr", "jean.dupont", EMAIL),
    # IBANs, French and foreign, grouped or not
    ("FR76 3000 6000 0112 3456 7890 189", "3000 6000 0112 3456 7890 189", IBAN),
    ("FR7630006000011234567890189", "FR7630006000011234567890189", IBAN),
    ("fr76 3000 6000 0112 3456 7890 189", "3000 6000 0112 3456 7890 189", IBAN),
    ("IBAN : FR76-3000-6000-0112-3456-7890-189.", "3000-6000-0112-3456-7890-189", IBAN),
    ("mon rib FR14 2004 1010 0505 0001 3M02 606 pour le remboursement", "2004 1010 0505 0001 3M02 606", IBAN),
    ("FR7630004000031234567890143", "FR7630004000031234567890143", IBAN),
    ("DE89 3704 0044 0532 0130 00", "3704 0044 0532 0130 00", IBAN),
    ("GB29 NWBK 6016 1331 9268 19", "NWBK 6016 1331 9268 19", IBAN),
    ("BE71 0961 2345 6769", "BE71 0961 2345 6769", IBAN),
    ("ES91 2100 0418 4502 0005 1332", "2100 0418 4502 0005 1332", IBAN),
    ("IT60X0542811101000000123456", "IT60X0542811101000000123456", IBAN),
    ("CH93 0076 2011 6238 5295 7", "0076 2011 6238 5295 7", IBAN),
    # French social-security numbers (NIR), key included
    ("1 84 12 76 451 089 46", "451 089 46", NIR),
    ("184127645108946", "184127645108946", NIR),
    ("mon numéro de sécu est 2 95 10 99 126 111 93", "126 111 93", NIR),
    ("2951099126111 93", "2951099126111", NIR),
    ("1.84.12.76.451.089.46", "451.089.46", NIR),
    ("secu: 1 78 05 75 123 456 28", "123 456 28", NIR),
    ("N° SS 2 69 01 64 445 001 80.", "445 001 80", NIR),
    ("1 92 02 33 063 125 37", "063 125 37", NIR),
    ("née en Corse : 2 53 07 2A 073 004 43", "073 004 43", NIR),
    ("253072B07300470", "253072B07300470", NIR),
    # payment card numbers (network test numbers)
    ("4111 1111 1111 1111", "4111 1111 1111 1111", CARD),
    ("4111111111111111", "4111111111111111", CARD),
    ("4111-1111-1111-1111", "4111-1111-1111-1111", CARD),
    ("ma carte 4012 8888 8888 1881 exp 12/28", "4012 8888 8888 1881", CARD),
    ("4242424242424242 cvv 123", "4242424242424242", CARD),
    ("4222222222222", "4222222222222", CARD),
    ("5555 5555 5555 4444", "5555 5555 5555 4444", CARD),
    ("MASTERCARD 5105 1051 0510 5100", "5105 1051 0510 5100", CARD),
    ("2223 0031 2200 3222", "2223 0031 2200 3222", CARD),
    ("amex 3782 822463 10005", "3782 822463 10005", CARD),
    ("371449635398431", "371449635398431", CARD),
    ("6011 1111 1111 1117", "6011 1111 1111 1117", CARD),
    ("3056 9309 0259 04", "3056 9309 0259 04", CARD),
]

NEGATIVE = [
    # dates
    "28/11/2026",
    "2026-11-28",
    "28.11.2026",
    "le 28 11 2026",
    "le 28 novembre 2026",
    "du 01/01/2026 au 31/12/2026",
    "rdv le 25/12 à 10h",
    "le 01 02 2026 08 30",
    # times and opening hours
    "8h30",
    "08:30",
    "17h-18h",
    "à 8 h 30",
    "08:30-12:00",
    "8h30-12h / 13h30-17h",
    "de 8h30 à 12h00 et de 13h30 à 17h00",
    "ouvert lundi 9h-12h30 / 14h-18h",
    # postal codes and places
    "64000",
    "64000 Pau",
    "64140 Lons",
    "75001 Paris",
    "BP 12345",
    # ticket references
    "PAU-2026-000123",
    "pau 2026 000123",
    "PAU2026000123",
    "pau-2026-000123",
    "où en est PAU-2026-004567 ?",
    "ref 2026 000123",
    # street numbers (kept by mask_text; see the review-screen tests)
    "12 rue Serviez",
    "45 boulevard des Pyrénées",
    "3 bis avenue de Lons",
    # years
    "2026",
    "en 1998",
    "entre 2020 et 2026",
    # prices and quantities
    "25 €",
    "86 euros",
    "1 250,50 €",
    "12,50€",
    "3 sacs de 200 kg",
    "un trou de 50 cm sur 30 cm",
    "bus ligne 12 arrêt 4",
    # short and emergency numbers
    "112",
    "17",
    "18",
    "appelez le 15",
    "le 3939",
    "3939",
    "appelez le 114 ou le 119",
    # numbers that fail validation
    "FR76 3000 6000 0112 3456 7890 188",
    "FR7630006000011234567890180",
    "4111 1111 1111 1112",
    "1234 5678 9012 3456",
    "commande 123456789",
    "commande n° 20260001234",
    "06 12 34 56",
    "siret 36252187900034",
    "siret 362 521 879 00034",
    # product codes, versions and the like
    "REF-A1234-B56",
    "code article 4006381333931",
    "ISBN 978-2-07-036822-8",
    "rasa 3.6.21",
    "192.168.1.1",
    "score 3-2",
    "colis 6A12345678901",
    "votre code 123456",
    "chat_id 612345678",
    "2026-11-28 20:42:27,123 INFO rasa.core - 127.0.0.1:5005",
    # not e-mail addresses
    "jean@localhost",
    "écrivez à @mairie",
    "mon e-mail ?",
    "contact@",
    "",
    "bonjour",
]


@pytest.mark.parametrize(("text", "raw", "placeholder"), POSITIVE)
def test_citizen_personal_data_is_masked(text: str, raw: str, placeholder: str) -> None:
    masked = mask_text(text)
    assert raw not in masked
    assert placeholder in masked


@pytest.mark.parametrize(("text", "raw", "placeholder"), POSITIVE)
def test_masking_twice_is_masking_once(text: str, raw: str, placeholder: str) -> None:
    assert mask_text(mask_text(text)) == mask_text(text)


@pytest.mark.parametrize("text", NEGATIVE)
def test_text_without_personal_data_is_unchanged(text: str) -> None:
    assert mask_text(text) == text
    assert find_personal_data(text) == []


def test_the_tables_are_large_enough() -> None:
    assert len(POSITIVE) >= 60 and len(NEGATIVE) >= 60


def test_test_values_are_really_valid() -> None:
    assert nir.calc_check_digits("1841276451089") == "46"
    assert nir.is_valid("253072A07300443") and nir.is_valid("253072B07300470")
    assert iban.is_valid("FR7630006000011234567890189") and iban.is_valid("FR1420041010050500013M02606")
    assert luhn.is_valid("4111111111111111") and luhn.is_valid("378282246310005")


def test_message_with_every_kind_keeps_its_ordinary_words() -> None:
    text = (
        "Bonjour, ticket PAU-2026-000123 du 28/11/2026 à 8h30 : rappelez-moi au 06 12 34 56 78 ou "
        "jean.dupont@gmail.com ; IBAN FR76 3000 6000 0112 3456 7890 189, sécu 1 84 12 76 451 089 46, "
        "carte 4111 1111 1111 1111. Merci, 12 rue Serviez 64000 Pau."
    )
    assert mask_text(text) == (
        f"Bonjour, ticket PAU-2026-000123 du 28/11/2026 à 8h30 : rappelez-moi au {PHONE} ou "
        f"{EMAIL} ; IBAN {IBAN}, sécu {NIR}, carte {CARD}. Merci, 12 rue Serviez 64000 Pau."
    )


def test_found_data_tells_kind_span_and_replacement() -> None:
    text = "tel 06 12 34 56 78 ou jean@exemple.fr"
    phone, email = find_personal_data(text)
    assert (phone.kind, text[slice(*phone.span)], phone.replacement) == ("phone", "06 12 34 56 78", PHONE)
    assert (email.kind, text[slice(*email.span)], email.replacement) == ("email", "jean@exemple.fr", EMAIL)


# The town's own contacts, printed by the bot from the catalog, are public: callers may keep them.
CATALOG_CONTACTS = frozenset({"05 36 49 00 12", "etat-civil@pau.example.fr"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Appelez la mairie au 05 36 49 00 12.", "Appelez la mairie au 05 36 49 00 12."),
        ("Appelez la mairie au 0536490012.", "Appelez la mairie au 0536490012."),
        ("Appelez la mairie au +33 5 36 49 00 12.", "Appelez la mairie au +33 5 36 49 00 12."),
        ("Écrivez à ETAT-CIVIL@pau.example.fr", "Écrivez à ETAT-CIVIL@pau.example.fr"),
        ("mairie 05 36 49 00 12, moi 06 12 34 56 78", f"mairie 05 36 49 00 12, moi {PHONE}"),
        (
            "écrivez à etat-civil@pau.example.fr ou à moi jean@exemple.fr",
            f"écrivez à etat-civil@pau.example.fr ou à moi {EMAIL}",
        ),
    ],
)
def test_catalog_contacts_in_the_keep_list_stay_readable(text: str, expected: str) -> None:
    assert mask_text(text, keep=CATALOG_CONTACTS) == expected


@pytest.mark.parametrize(
    "written",
    [
        "2 91 11 33 063 042 17",  # the key should be 16
        "291113306304217",
        "2.91.11.33.063.042.17",
        "1 84 12 76 451 089 47",
        "184127645108945",
        "2 53 07 2A 073 004 12",  # born in Corsica
        "1 80 62 99 135 001 12",  # born abroad (99), month unknown (62)
        "2 60 20 64 445 123 45",  # month 20: unknown
        "1 75 31 64 445 123 45",  # month 31: made up by the registry
    ],
)
def test_a_nir_with_a_wrong_key_is_masked_all_the_same(written: str) -> None:
    assert not nir.is_valid(written.replace(" ", "").replace(".", ""))
    assert mask_text(f"mon numéro de sécu : {written}, merci") == f"mon numéro de sécu : {NIR}, merci"


@pytest.mark.parametrize(
    "text",
    [
        "Mairie : 05 36 49 10 00 ; piscine : 05 36 49 10 10 ; médiathèque : 05 36 49 10 20",
        "Mairie 0536491000 0536491010 ou 05 36 49 10 20 05 36 49 10 30",
        "suivi PAU-2026-101234 64012",  # a reference then a number: together, a NIR's shape
        "PAU 2026 101234 64012 Pau",
        "pau2026101234 64012",
        "1 75 13 64 445 123 45",  # month 13 does not exist
        "2 91 11 00 063 042 17",  # no department 00
        "2 91 11 33 063 000 17",  # no order number 000
        "2 91 11 33 063 042 98",  # a key is at most 97
        "3 91 11 33 063 042 17",  # no such sex digit
    ],
)
def test_the_towns_phone_numbers_references_and_impossible_nirs_are_not_masked_as_nirs(text: str) -> None:
    keep = frozenset({"05 36 49 10 00", "05 36 49 10 10", "05 36 49 10 20", "05 36 49 10 30"})
    assert mask_text(text, keep=keep) == text


def test_catalog_contacts_are_masked_without_a_keep_list() -> None:
    assert mask_text("Appelez la mairie au 05 36 49 00 12.") == f"Appelez la mairie au {PHONE}."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12 rue serviez il y a un trou", f"{ADDRESS} il y a un trou"),
        ("J'habite au 12 rue du Maréchal Joffre, 64000 Pau", f"J'habite au {ADDRESS}, 64000 Pau"),
        ("3 bis avenue de lons", ADDRESS),
        ("45, Boulevard des Pyrénées", ADDRESS),
        ("7 bd d'Alsace-Lorraine", ADDRESS),
        ("le 12 avenue du Général Leclerc", f"le {ADDRESS}"),
        ("10 allées de Morlaàs", ADDRESS),
        ("RDV le 28/11/2026 à 8h30 au 4 Place Clemenceau", f"RDV le 28/11/2026 à 8h30 au {ADDRESS}"),
        ("appelez le 06 12 34 56 78, j'habite 3 rue Henri IV", f"appelez le {PHONE}, j'habite {ADDRESS}"),
        ("lampadaire cassé rue Serviez", "lampadaire cassé rue Serviez"),
        ("il y a 3 trous rue Carnot", "il y a 3 trous rue Carnot"),
        ("ouvert 8h30-12h, 64000 Pau", "ouvert 8h30-12h, 64000 Pau"),
    ],
)
def test_staff_review_screens_also_hide_street_addresses(text: str, expected: str) -> None:
    assert mask_for_review(text) == expected


def test_review_keeps_the_town_s_own_addresses() -> None:
    text = "La mairie est au 2 place Royale ; j'habite 5 rue Gassion"
    assert mask_for_review(text, keep={"2 Place Royale"}) == f"La mairie est au 2 place Royale ; j'habite {ADDRESS}"


def test_masking_before_storage_keeps_the_location_of_a_report() -> None:
    assert mask_text("nid de poule devant le 12 rue Serviez") == "nid de poule devant le 12 rue Serviez"


# Rasa events as `tracker.events` serialise them.
def user_event(text: str) -> dict:
    return {
        "event": "user",
        "timestamp": 1764355200.0,
        "text": text,
        "parse_data": {
            "text": text,
            "intent": {"name": "inform", "confidence": 0.93},
            "entities": [{"entity": "phone", "value": "06 12 34 56 78", "start": 10, "end": 24}],
            "intent_ranking": [{"name": "inform", "confidence": 0.93}],
        },
        "input_channel": "telegram",
        "message_id": "5f2c",
        "metadata": {},
    }


def test_citizen_message_event_is_stored_masked() -> None:
    event = user_event("mon num c 06 12 34 56 78 merci")
    masked = mask_event(event)
    assert masked["text"] == f"mon num c {PHONE} merci"
    assert masked["parse_data"]["text"] == f"mon num c {PHONE} merci"
    assert masked["parse_data"]["entities"][0]["value"] == PHONE
    assert masked["parse_data"]["intent"] == {"name": "inform", "confidence": 0.93}
    assert (masked["timestamp"], masked["input_channel"], masked["message_id"]) == (1764355200.0, "telegram", "5f2c")


def test_masking_an_event_leaves_the_original_untouched() -> None:
    event = user_event("jean@exemple.fr")
    mask_event(event)
    assert event == user_event("jean@exemple.fr")


def test_bot_event_masks_text_and_button_titles_but_keeps_payloads() -> None:
    event = {
        "event": "bot",
        "timestamp": 1764355201.0,
        "text": "Je vous rappelle au 06 12 34 56 78 ? La mairie : 05 36 49 00 12.",
        "data": {
            "buttons": [
                {"title": "Oui, au 06 12 34 56 78", "payload": '/affirm{"contact":"0612345678"}'},
                {"title": "Non", "payload": "/deny"},
            ],
            "custom": {"contact": {"email": "jean@exemple.fr"}},
        },
        "metadata": {"utter_action": "utter_confirm_contact"},
    }
    masked = mask_event(event, keep=CATALOG_CONTACTS)
    assert masked["text"] == f"Je vous rappelle au {PHONE} ? La mairie : 05 36 49 00 12."
    assert masked["data"]["buttons"][0] == {"title": f"Oui, au {PHONE}", "payload": '/affirm{"contact":"0612345678"}'}
    assert masked["data"]["buttons"][1] == {"title": "Non", "payload": "/deny"}
    assert masked["data"]["custom"] == {"contact": {"email": EMAIL}}
    assert masked["metadata"] == {"utter_action": "utter_confirm_contact"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("06 12 34 56 78", PHONE),
        (["jean@exemple.fr", "PAU-2026-000123"], [EMAIL, "PAU-2026-000123"]),
        (
            {"phone": "+33612345678", "notes": ["iban FR7630006000011234567890189"]},
            {"phone": PHONE, "notes": [f"iban {IBAN}"]},
        ),
        ({"nested": {"deeper": [{"nir": "184127645108946"}]}}, {"nested": {"deeper": [{"nir": NIR}]}}),
        (None, None),
        (3, 3),
        (True, True),
        ("mairie", "mairie"),
    ],
)
def test_slot_values_are_masked_whatever_their_shape(value: object, expected: object) -> None:
    event = {"event": "slot", "timestamp": 1.0, "name": "description", "value": value}
    assert mask_event(event) == {"event": "slot", "timestamp": 1.0, "name": "description", "value": expected}


def test_a_slot_in_keep_slots_is_stored_as_it_is() -> None:
    event = {"event": "slot", "timestamp": 1.0, "name": "ticket_contact", "value": "06 12 34 56 78"}
    assert mask_event(event, keep_slots={"ticket_contact"}) == event
    assert mask_event(event)["value"] == PHONE


def test_entities_event_values_are_masked() -> None:
    event = {"event": "entities", "timestamp": 1.0, "entities": [{"entity": "email", "value": "jean@exemple.fr"}]}
    assert mask_event(event)["entities"] == [{"entity": "email", "value": EMAIL}]


@pytest.mark.parametrize(
    "event",
    [
        {"event": "action", "timestamp": 1.0, "name": "action_listen", "policy": None, "confidence": 1.0},
        {"event": "session_started", "timestamp": 1.0},
        {"event": "active_loop", "timestamp": 1.0, "name": "report_form"},
        {"event": "followup", "timestamp": 1.0, "name": "action_0612345678"},
    ],
)
def test_other_events_are_unchanged(event: dict) -> None:
    assert mask_event(event) == event


@pytest.mark.parametrize(
    "event",
    [
        user_event("mon num c 06 12 34 56 78, iban FR76 3000 6000 0112 3456 7890 189"),
        {
            "event": "bot",
            "text": "écrivez à jean@exemple.fr",
            "data": {"buttons": [{"title": "4111 1111 1111 1111", "payload": "/x"}]},
        },
        {"event": "slot", "name": "s", "value": {"a": ["1 84 12 76 451 089 46", "0612345678 0798765432"]}},
    ],
)
def test_masking_an_event_twice_is_masking_it_once(event: dict) -> None:
    once = mask_event(event)
    assert mask_event(once) == once


# Logs printed by the processes.
@pytest.fixture
def log_stream() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(MaskingFilter(keep=CATALOG_CONTACTS))
    logger = logging.getLogger("guichet.test.privacy")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_log_lines_are_masked_after_formatting(log_stream: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = log_stream
    logger.info("callback for %s (%s), catalog %s", "06 12 34 56 78", "jean@exemple.fr", "05 36 49 00 12")
    assert stream.getvalue() == f"INFO callback for {PHONE} ({EMAIL}), catalog 05 36 49 00 12\n"


def test_tracebacks_in_logs_are_masked(log_stream: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = log_stream
    try:
        raise ValueError("no ticket for +33612345678")
    except ValueError:
        logger.exception("failed for %s", "jean@exemple.fr")
    output = stream.getvalue()
    assert "+33612345678" not in output and "jean@exemple.fr" not in output
    assert f"ValueError: no ticket for {PHONE}" in output and f"failed for {EMAIL}" in output


def test_a_broken_log_call_never_raises_and_is_still_masked(log_stream: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = log_stream
    logger.warning("two args %s %s", "06 12 34 56 78")
    assert "06 12 34 56 78" not in stream.getvalue()
    assert PHONE in stream.getvalue()


def test_extra_fields_of_a_log_record_are_masked(installed_masking: None) -> None:
    # Sanic's access log passes the request line through `extra`, after the record factory ran.
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(request)s %(status)d"))
    logger = logging.getLogger("sanic.access")
    mask_logs()
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        logger.info("", extra={"request": "GET /status?tel=0612345678", "status": 200})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert stream.getvalue() == f"GET /status?tel={PHONE} 200\n"


def test_masking_filter_lets_every_record_through() -> None:
    record = logging.LogRecord("rasa", logging.INFO, __file__, 1, "text %s", ("PAU-2026-000123",), None)
    assert MaskingFilter().filter(record) is True
    assert record.getMessage() == "text PAU-2026-000123"


def test_a_record_that_cannot_be_masked_is_suppressed() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("boom")

        __repr__ = __str__

    record = logging.LogRecord("rasa", logging.INFO, __file__, 1, Unprintable(), None, None)
    assert MaskingFilter().filter(record) is True
    assert record.getMessage() == SUPPRESSED


@pytest.fixture
def installed_masking() -> Iterator[None]:
    names = ("", "rasa", "rasa_sdk", "sanic", "sanic.root", "sanic.error", "sanic.access")
    before = {name: list(logging.getLogger(name).filters) for name in names}
    handler_filters = {h: list(h.filters) for h in logging.getLogger().handlers}
    yield
    uninstall_record_factory()
    for name, filters in before.items():
        logging.getLogger(name).filters[:] = filters
    for handler, filters in handler_filters.items():
        handler.filters[:] = filters


def test_install_masks_rasa_and_sanic_logs_including_child_loggers(
    installed_masking: None, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("rasa.core.processor", "sanic.access", "rasa_sdk.executor"):  # a Sanic app may have unhooked them
        monkeypatch.setattr(logging.getLogger(name), "propagate", True)
        monkeypatch.setattr(logging.getLogger(name), "disabled", False)
        caplog.set_level(logging.INFO, logger=name)
    caplog.set_level(logging.INFO)
    mask_logs()
    logging.getLogger("rasa.core.processor").info("message from 06 12 34 56 78")
    logging.getLogger("sanic.access").info("POST from jean@exemple.fr")
    logging.getLogger("rasa_sdk.executor").info("slot %s", "1 84 12 76 451 089 46")
    assert caplog.messages == [f"message from {PHONE}", f"POST from {EMAIL}", f"slot {NIR}"]


def test_install_attaches_one_filter_even_when_called_twice(installed_masking: None) -> None:
    mask_logs()
    mask_logs()
    for name in ("rasa", "sanic", "rasa_sdk"):
        assert sum(isinstance(f, MaskingFilter) for f in logging.getLogger(name).filters) == 1
    for handler in logging.getLogger().handlers:
        assert sum(isinstance(f, MaskingFilter) for f in handler.filters) == 1


def test_texts_are_remembered_only_when_nothing_in_them_is_masked() -> None:
    from bot.town.privacy import masking

    clean = "La mairie est ouverte de 8 h 30 à 12 h, tél. 05 36 49 00 12 (test de mémoire)."
    personal = "rappelez moi au 06 12 34 56 78 (test de mémoire)"
    town = frozenset({"05 36 49 00 12"})
    assert mask_text(clean, town) == clean
    assert mask_text(personal, town) == f"rappelez moi au {PHONE} (test de mémoire)"
    assert (clean, town) in masking._NOTHING_TO_MASK
    assert not any(personal in text for text, _ in masking._NOTHING_TO_MASK)
    # Remembered with the values kept: without them, the same text is masked.
    assert mask_text(clean) == clean.replace("05 36 49 00 12", PHONE)
    assert mask_text(clean, town) == clean


def test_the_memory_of_clean_texts_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.town.privacy import masking

    monkeypatch.setattr(masking, "_NOTHING_TO_MASK", {})
    monkeypatch.setattr(masking, "_NOTHING_TO_MASK_SIZE", 3)
    for n in range(10):
        assert mask_text(f"texte numéro {n}") == f"texte numéro {n}"
    assert list(masking._NOTHING_TO_MASK) == [(f"texte numéro {n}", frozenset()) for n in (7, 8, 9)]


def test_masked_event_shares_nothing_with_the_original() -> None:
    slot = {"event": "slot", "timestamp": 1.0, "name": "location", "value": {"streets": ["rue Serviez"]}}
    user = user_event("bonjour")
    user["parse_data"]["entities"] = []
    user["metadata"] = {"origin": {"page": "/horaires"}}
    user["extra"] = {"kept": ["as", "it", "is"]}
    for event, keep_slots in ((slot, {"location"}), (slot, set()), (user, set())):
        original = copy.deepcopy(event)
        masked = mask_event(event, keep_slots=keep_slots)
        assert masked == original
        _empty_every_container(masked)
        assert event == original


def _empty_every_container(value: object) -> None:
    """Clear every dict and list inside `value`, innermost first."""
    children = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else []
    for child in children:
        _empty_every_container(child)
    if isinstance(value, (dict, list)):
        value.clear()
