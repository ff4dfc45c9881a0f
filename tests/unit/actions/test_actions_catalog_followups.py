"""A bare fragment continues the last catalog question: « et le samedi ? », « et pour la piscine ? »."""

from __future__ import annotations

import pytest

from actions.catalog_followups import ActionCatalogFollowup
from bot.town.catalog import Catalog
from tests.unit.actions.catalog_turns import paris, run, sample_town

NOW = paris("2026-03-10 11:20")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return sample_town()


@pytest.mark.parametrize(
    ("text", "entities", "slots", "response", "service"),
    [
        (
            "et le samedi ?",
            {"weekday": "samedi"},
            {"catalog_topic": "hours", "service": "mairie"},
            "utter_hours_day_closed_reopens",
            "mairie",
        ),
        # after an address, a day still means the hours of that service
        (
            "et demain ?",
            {"date": "demain"},
            {"catalog_topic": "location", "service": "piscine"},
            "utter_hours_day_open",
            "piscine",
        ),
        # after a procedure, the remembered service is where it is done
        (
            "et le samedi ?",
            {"weekday": "samedi"},
            {"catalog_topic": "procedure", "service": "etat_civil", "procedure": "carte_identite"},
            "utter_hours_day_open",
            "etat_civil",
        ),
        (
            "et pour la piscine ?",
            {"service": "piscine"},
            {"catalog_topic": "location", "service": "mairie"},
            "utter_service_location",
            "piscine",
        ),
        (
            "et le ccas ?",
            {"service": "ccas"},
            {"catalog_topic": "contact", "service": "mairie"},
            "utter_service_contact",
            "ccas",
        ),
        # the answer to "which service?" when the NLU found no entity in it
        ("la piscine", {}, {"catalog_topic": "hours"}, "utter_hours_closed_now", "piscine"),  # opens at 12h
    ],
)
async def test_a_fragment_continues_the_last_question(catalog, text, entities, slots, response, service):
    messages, events = await run(ActionCatalogFollowup, catalog, NOW, text, "inform", entities, slots)
    assert messages[0].response == response
    assert {"event": "slot", "timestamp": None, "name": "service", "value": service} in events


async def test_a_fragment_naming_something_unknown_is_not_taken_for_the_remembered_service(catalog):
    messages, _ = await run(
        ActionCatalogFollowup,
        catalog,
        NOW,
        "et la patinoire ?",
        "inform",
        slots={"catalog_topic": "hours", "service": "mairie"},
    )
    assert messages[0].response == "utter_service_unknown"
    assert messages[0].pieces["asked"] == "la patinoire"


async def test_another_procedure_after_a_procedure(catalog):
    messages, _ = await run(
        ActionCatalogFollowup,
        catalog,
        NOW,
        "et pour un passeport",
        "inform",
        {"procedure": "passeport"},
        {"catalog_topic": "procedure", "procedure": "carte_identite"},
    )
    assert messages[0].pieces["Procedure"] == "Le passeport"


async def test_a_fragment_that_fits_no_catalog_question_shows_the_help_menu(catalog):
    messages, events = await run(
        ActionCatalogFollowup, catalog, NOW, "par sms", "inform", slots={"catalog_topic": "waste", "street": "rue_tran"}
    )
    assert [m.response for m in messages] == ["utter_help"]
    assert events == []


async def test_a_day_with_no_service_remembered_asks_which_service_for_that_day(catalog):
    messages, _ = await run(
        ActionCatalogFollowup,
        catalog,
        NOW,
        "et le samedi ?",
        "inform",
        {"weekday": "samedi"},
        {"catalog_topic": "hours"},
    )
    (message,) = messages
    assert message.response == "utter_ask_which_service"
    assert message.buttons[0]["payload"] == '/ask_opening_hours{"service": "mairie", "weekday": "samedi"}'
