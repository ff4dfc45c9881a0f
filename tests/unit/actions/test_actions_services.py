"""Citizens ask when a service is open, where it is and how to reach it; answers come from the sample town."""

from __future__ import annotations

import dataclasses
import json

import pytest

from actions.services import ActionServiceContact, ActionServiceHours, ActionServiceLocation
from bot.town.catalog import SERVICE_IDS, Catalog
from tests.unit.actions.catalog_turns import Said, paris, run, sample_town

TUESDAY_1120 = paris("2026-03-10 11:20")  # the town hall closes for lunch at 12h


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return sample_town()


def slot_events(service: str | None, topic: str | None) -> list[dict]:
    return [
        {"event": "slot", "timestamp": None, "name": "service", "value": service},
        {"event": "slot", "timestamp": None, "name": "catalog_topic", "value": topic},
    ]


async def test_citizen_asks_whether_the_town_hall_is_open_and_learns_when_it_closes(catalog):
    messages, events = await run(
        ActionServiceHours, catalog, TUESDAY_1120, "la mairie est ouverte ?", "ask_opening_hours", {"service": "mairie"}
    )
    assert messages == [
        Said(
            "utter_hours_open_now",
            {
                "service": "la mairie",
                "Service": "La mairie",
                "Pronoun": "Elle",
                "open_word": "ouverte",
                "closed_word": "fermée",
                "today_ranges": "de 8h30 à 12h et de 13h30 à 17h",
                "closes_at": "12h",
                "closes_in": "dans 40 minutes",
                "next_opening": "aujourd'hui à 13h30",
                "opens_in": "dans 2 h 10",
            },
            [],
        )
    ]
    assert events == slot_events("mairie", "hours")


@pytest.mark.parametrize(
    ("now", "service", "entities", "response", "expected"),
    [
        # closed for lunch, reopens the same day
        ("2026-03-10 12:30", "mairie", {}, "utter_hours_closed_now", {"next_opening": "aujourd'hui à 13h30"}),
        # Sunday: closed all day, reopens on Monday morning
        ("2026-03-08 10:00", "mairie", {}, "utter_hours_closed_today", {"next_opening": "demain à 8h30"}),
        # a public holiday
        ("2026-07-14 10:00", "mairie", {}, "utter_hours_closed_today_holiday", {"holiday": "Fête nationale"}),
        # an exceptional closure
        (
            "2026-10-16 10:00",
            "mairie",
            {},
            "utter_hours_closed_today_closure",
            {"closure_reason": "journée de formation des agents", "next_opening": "lundi à 8h30"},
        ),
        # Christmas Eve: open in the morning only
        (
            "2026-12-24 10:00",
            "mairie",
            {},
            "utter_hours_open_now_reduced",
            {"today_ranges": "de 8h30 à 12h", "closure_reason": "veille de Noël"},
        ),
        # « et le samedi ? »: the town hall is closed on Saturdays
        (
            "2026-03-10 11:20",
            "mairie",
            {"weekday": "samedi"},
            "utter_hours_day_closed_reopens",
            {"day": "samedi", "next_opening": "lundi à 8h30"},
        ),
        # a weekday typed with a typo
        (
            "2026-03-10 11:20",
            "etat_civil",
            {"weekday": "samdi"},
            "utter_hours_day_open",
            {"day": "samedi", "day_ranges": "de 9h à 12h"},
        ),
        (
            "2026-03-10 11:20",
            "piscine",
            {"date": "demain"},
            "utter_hours_day_open",
            {"day": "demain", "day_ranges": "de 10h à 19h"},
        ),
        # the pool's summer hours on a public holiday
        (
            "2026-03-10 11:20",
            "piscine",
            {"date": "le 14 juillet"},
            "utter_hours_day_open_holiday",
            {"Day": "Le mardi 14 juillet", "holiday": "Fête nationale", "day_ranges": "de 10h à 19h30"},
        ),
        (
            "2026-03-10 11:20",
            "piscine",
            {"date": "15/07"},
            "utter_hours_day_open_season",
            {"season": "horaires d'été", "day_ranges": "de 10h à 19h30"},
        ),
        # the pool is drained every September
        (
            "2026-08-20 11:00",
            "piscine",
            {"date": "le 3 septembre"},
            "utter_hours_day_closed_closure_reopens",
            {"closure_reason": "vidange annuelle des bassins", "next_opening": "le lundi 14 septembre à 12h"},
        ),
        (
            "2026-03-10 11:20",
            "mairie",
            {"date": "le 1er mai"},
            "utter_hours_day_closed_holiday_reopens",
            {"holiday": "Fête du Travail"},
        ),
        (
            "2026-03-10 11:20",
            "mairie",
            {"date": "aujourdhui"},
            "utter_hours_open_now",
            {"closes_in": "dans 40 minutes"},
        ),
    ],
)
async def test_citizen_asks_about_a_moment_or_a_day(catalog, now, service, entities, response, expected):
    messages, events = await run(
        ActionServiceHours, catalog, paris(now), "c ouvert ?", "ask_opening_hours", {"service": service, **entities}
    )
    (message,) = messages
    assert message.response == response
    assert expected.items() <= message.pieces.items()
    assert events == slot_events(service, "hours")


async def test_citizen_who_asks_for_the_hours_also_gets_the_week(catalog):
    messages, _ = await run(
        ActionServiceHours, catalog, TUESDAY_1120, "horaires mairie", "ask_opening_hours", {"service": "mairie"}
    )
    assert [m.response for m in messages] == ["utter_hours_open_now", "utter_hours_week"]
    assert messages[1].pieces["week"] == "- du lundi au vendredi de 8h30 à 12h et de 13h30 à 17h"


async def test_in_summer_the_week_is_the_seasonal_one(catalog):
    messages, _ = await run(
        ActionServiceHours,
        catalog,
        paris("2026-07-07 09:00"),
        "horaires de la piscine",
        "ask_opening_hours",
        {"service": "piscine"},
    )
    assert messages[-1].response == "utter_hours_week_season"
    assert messages[-1].pieces["season"] == "horaires d'été"


async def test_a_follow_up_uses_the_remembered_service(catalog):
    messages, events = await run(
        ActionServiceLocation,
        catalog,
        TUESDAY_1120,
        "et son adresse ?",
        "ask_service_location",
        slots={"service": "mediatheque"},
    )
    assert messages[0].response == "utter_service_location"
    assert messages[0].pieces["address"] == "Place Marguerite Laborde, 64000 Pau"
    assert events == slot_events("mediatheque", "location")


@pytest.mark.parametrize(
    ("typed", "expected"), [("pisine", "piscine"), ("mairi", "mairie"), ("bibliotheque", "mediatheque")]
)
async def test_a_misspelt_service_that_the_nlu_did_not_map_is_still_found(catalog, typed, expected):
    _, events = await run(
        ActionServiceContact, catalog, TUESDAY_1120, f"tel {typed}", "ask_service_contact", {"service": typed}
    )
    assert events == slot_events(expected, "contact")


async def test_without_a_service_the_assistant_asks_which_one_and_keeps_the_day(catalog):
    messages, events = await run(
        ActionServiceHours, catalog, TUESDAY_1120, "c ouvert samedi ?", "ask_opening_hours", {"weekday": "samedi"}
    )
    (message,) = messages
    assert message.response == "utter_ask_which_service"
    assert len(message.buttons) == len(SERVICE_IDS)
    assert message.buttons[0] == {
        "title": "La mairie",
        "payload": '/ask_opening_hours{"service": "mairie", "weekday": "samedi"}',
    }
    assert events == [{"event": "slot", "timestamp": None, "name": "catalog_topic", "value": "hours"}]


async def test_an_ambiguous_service_offers_the_candidates(catalog):
    messages, _ = await run(
        ActionServiceLocation,
        catalog,
        TUESDAY_1120,
        "ou est le service",
        "ask_service_location",
        {"service": "le service"},
    )
    (message,) = messages
    assert message.response == "utter_ask_which_service_among"
    assert message.pieces == {"asked": "le service"}
    payloads = [json.loads(b["payload"].removeprefix("/ask_service_location"))["service"] for b in message.buttons]
    assert {"urbanisme", "sports", "services_techniques"} <= set(payloads)


async def test_an_unknown_service_gets_an_honest_answer_and_the_town_halls_contact(catalog):
    messages, events = await run(
        ActionServiceHours, catalog, TUESDAY_1120, "horaires patinoire", "ask_opening_hours", {"service": "patinoire"}
    )
    assert messages == [
        Said(
            "utter_service_unknown",
            {"asked": "patinoire", "town_hall_phone": "05 36 49 10 00", "town_hall_email": "accueil@demo-pau.example"},
            [],
        )
    ]
    assert events == slot_events(None, "hours")


async def test_location_gives_address_access_accessibility_and_map(catalog):
    messages, _ = await run(
        ActionServiceLocation, catalog, TUESDAY_1120, "c ou la piscine", "ask_service_location", {"service": "piscine"}
    )
    service = catalog.service("piscine")
    assert messages == [
        Said(
            "utter_service_location",
            {
                "service": "la piscine",
                "Service": "La piscine",
                "open_word": "ouverte",
                "closed_word": "fermée",
                "Pronoun": "Elle",
                "address": "Avenue Norman Prince, 64000 Pau",
                "map_url": service.map_url,
                "access": service.access,
                "accessibility": service.accessibility,
            },
            [],
        )
    ]


async def test_contact_gives_phone_email_and_website_from_the_catalog(catalog):
    messages, _ = await run(
        ActionServiceContact, catalog, TUESDAY_1120, "tel ccas", "ask_service_contact", {"service": "ccas"}
    )
    (message,) = messages
    assert message.response == "utter_service_contact"
    assert (message.pieces["phone"], message.pieces["email"], message.pieces["website"]) == (
        "05 36 49 10 40",
        "ccas@demo-pau.example",
        "https://www.demo-pau.example/ccas",
    )


def without_contacts(catalog: Catalog, service_id: str, **fields: None) -> Catalog:
    services = dict(catalog.services)
    services[service_id] = dataclasses.replace(services[service_id], **fields)
    return dataclasses.replace(catalog, services=services)


async def test_a_service_with_only_a_phone_gets_only_the_phone(catalog):
    partial = without_contacts(catalog, "cimetiere", email=None, website=None)
    messages, _ = await run(
        ActionServiceContact, partial, TUESDAY_1120, "tel cimetiere", "ask_service_contact", {"service": "cimetiere"}
    )
    assert [(m.response, m.pieces.get("phone")) for m in messages] == [
        ("utter_service_contact_intro", None),
        ("utter_contact_phone", "05 36 49 11 00"),
    ]


async def test_a_service_without_any_contact_points_to_the_town_hall(catalog):
    bare = without_contacts(catalog, "sports", phone=None, email=None, website=None)
    messages, _ = await run(
        ActionServiceContact, bare, TUESDAY_1120, "tel sports", "ask_service_contact", {"service": "sports"}
    )
    assert [m.response for m in messages] == ["utter_service_no_contact"]
    assert messages[0].pieces["town_hall_phone"] == "05 36 49 10 00"


async def test_a_partial_service_name_is_offered_rather_than_assumed(catalog):
    messages, _ = await run(
        ActionServiceHours, catalog, TUESDAY_1120, "horaires etat", "ask_opening_hours", {"service": "etat"}
    )
    (message,) = messages
    assert message.response == "utter_ask_which_service_among"
    assert message.buttons == [
        {"title": "Le service de l'état civil", "payload": '/ask_opening_hours{"service": "etat_civil"}'}
    ]
