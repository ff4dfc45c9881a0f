"""Every phone number, e-mail and URL the catalog actions can say comes from the catalog, on every answer path.

Each action runs over many inputs (every service, every procedure, streets of every sector, each stream, several
dates and times, missing, ambiguous and unknown names, follow-ups, and catalogs with missing contacts); each
response is rendered, in every channel variant, with its template variables the way Rasa fills them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from rasa.core.nlg.interpolator import interpolate_text
from rasa_sdk import Action

from actions.catalog_followups import ActionCatalogFollowup
from actions.procedures import ActionProcedure
from actions.services import ActionServiceContact, ActionServiceHours, ActionServiceLocation
from actions.waste import ActionWasteCollection
from bot.runtime.nlg import town_variables
from bot.settings import Settings
from bot.town.catalog import PROCEDURE_IDS, SERVICE_IDS, WASTE_STREAMS, Catalog
from tests.unit.actions.catalog_turns import ROOT, paris, run, sample_town

RESPONSES: dict[str, list[dict[str, Any]]] = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))[
    "responses"
]
PHONE = re.compile(r"(?<![\d/])(?:\+33[\s.]?|0)[1-9](?:[\s.\-]?\d{2}){4}(?!\d)")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
URL = re.compile(r"(?:https?://|www\.)[^\s<>\"']+")
OSM = re.compile(r"https://www\.openstreetmap\.org/\?mlat=(-?[\d.]+)&mlon=(-?[\d.]+)#map=\d+/(-?[\d.]+)/(-?[\d.]+)")
PLACEHOLDER = re.compile(r"\{[^{}\s]+\}")
TOWN = town_variables(Settings(_env_file=None))  # what the rasa server's generator adds (bot/runtime/nlg.py)

MOMENTS = [
    "2026-03-10 11:20",  # Tuesday morning, most services open
    "2026-03-10 12:30",  # lunch break
    "2026-03-08 10:00",  # Sunday
    "2026-07-14 10:00",  # public holiday in the summer season
    "2026-10-16 10:00",  # exceptional closure of the town hall
    "2026-12-24 15:00",  # Christmas Eve afternoon
    "2026-09-05 11:00",  # the pool is drained
    "2026-11-09 08:00",  # a collection moved by Armistice day
    "2026-12-23 08:00",  # a collection cancelled on Christmas day
]
DAYS = [
    {},
    {"weekday": "samedi"},
    {"weekday": "dim"},
    {"date": "demain"},
    {"date": "le 14 juillet"},
    {"date": "25/12"},
    {"date": "le 1er mai"},
    {"date": "le 31 fevrier"},
]
STREETS = [
    "12 rue serviez",
    "bd des pyrenees",
    "avenue dufau",
    "allees de morlaas",
    "chemin de beyris",
    "avenue de saragosse",
    "45 avenue de buros",
    "rue de liege",
    "rue du marechal",
    "rue de la republique",
    "Rue Émile Guichenné",
]

Case = tuple[type[Action], str, str, str, dict[str, str], dict[str, Any]]


def service_cases() -> Iterator[Case]:
    for service in SERVICE_IDS:
        for moment in MOMENTS:
            yield ActionServiceHours, moment, "horaires", "ask_opening_hours", {"service": service}, {}
        for moment in (MOMENTS[0], MOMENTS[6]):
            for day in DAYS:
                yield ActionServiceHours, moment, "c ouvert ?", "ask_opening_hours", {"service": service, **day}, {}
        yield ActionServiceLocation, MOMENTS[0], "c ou", "ask_service_location", {"service": service}, {}
        yield ActionServiceContact, MOMENTS[0], "tel", "ask_service_contact", {}, {"service": service}
    for typed in ["", "patinoire", "le service", "pisine"]:
        entities = {"service": typed} if typed else {}
        for action in (ActionServiceHours, ActionServiceLocation, ActionServiceContact):
            yield action, MOMENTS[0], typed or "c ouvert ?", "ask_opening_hours", entities, {}


def procedure_cases() -> Iterator[Case]:
    for procedure in [*PROCEDURE_IDS, "", "acte", "permis de chasse", "pasport"]:
        entities = {"procedure": procedure} if procedure else {}
        yield ActionProcedure, MOMENTS[0], procedure or "une demarche", "ask_procedure", entities, {}


def waste_cases() -> Iterator[Case]:
    for moment, streets in ((MOMENTS[0], STREETS), (MOMENTS[7], STREETS[2:4]), (MOMENTS[8], STREETS[:2])):
        for street in streets:
            for stream in [None, *WASTE_STREAMS]:
                entities = {"address": street, **({"waste_stream": stream} if stream else {})}
                yield (
                    ActionWasteCollection,
                    moment,
                    f"collecte {street} jours feries",
                    "ask_waste_collection",
                    entities,
                    {},
                )
    for stream in [None, *WASTE_STREAMS]:
        entities = {"waste_stream": stream} if stream else {}
        yield ActionWasteCollection, MOMENTS[0], "poubelles", "ask_waste_collection", entities, {}


def follow_up_cases() -> Iterator[Case]:
    slots = {"service": "mairie", "procedure": "passeport", "street": "rue_tran", "waste_stream": "verre"}
    fragments = [
        ("et le samedi ?", {"weekday": "samedi"}),
        ("et la patinoire ?", {}),
        ("la piscine", {}),
        ("12 rue serviez", {}),
        ("rue du marechal", {}),
        ("et le verre ?", {"waste_stream": "verre"}),
        ("et pour un acte", {"procedure": "acte"}),
        ("par sms", {}),
    ]
    for topic in ["hours", "location", "contact", "procedure", "waste", "waste_street"]:
        for text, entities in fragments:
            yield ActionCatalogFollowup, MOMENTS[0], text, "inform", entities, {**slots, "catalog_topic": topic}


def without(catalog: Catalog, **fields: None) -> Catalog:
    """The catalog with these service fields missing everywhere (an import may lack them)."""
    services = {i: dataclasses.replace(s, **fields) for i, s in catalog.services.items()}
    return dataclasses.replace(catalog, services=services)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return sample_town()


def allowed_facts(catalog: Catalog) -> tuple[set[str], set[str], set[str], set[tuple[float, float]]]:
    """Phones (digits only), e-mails, URLs and coordinates that the catalog holds."""
    phones = {s.phone for s in catalog.services.values()}
    phones |= {p.appointment.phone for p in catalog.procedures.values()}
    phones |= {s.phone for s in catalog.waste.streams.values()}
    urls = {u for s in catalog.services.values() for u in (s.website, s.map_url)}
    urls |= {u for p in catalog.procedures.values() for u in (p.link, p.appointment.url)}
    urls |= {s.url for s in catalog.waste.streams.values()}
    emails = {s.email for s in catalog.services.values()}
    places = {(round(s.lat, 5), round(s.lon, 5)) for s in catalog.services.values()}
    places |= {
        (round(p.lat, 5), round(p.lon, 5))
        for sector in catalog.waste.sectors.values()
        for points in sector.drop_off_points.values()
        for p in points
    }
    digits = {re.sub(r"\D", "", p) for p in phones if p}
    return digits, {e for e in emails if e}, {u for u in urls if u}, places


def rendered(response: str, pieces: dict[str, str], buttons: list[dict[str, str]]) -> Iterator[tuple[str, str]]:
    """(text, buttons) of every channel variant of the response, filled like the rasa server's generator does."""
    assert response in RESPONSES, f"{response} is not in domain.yml"
    for variant in RESPONSES[response]:
        text = interpolate_text(variant["text"], {**TOWN, **pieces})
        titles = " ".join(f"{b['title']} {b['payload']}" for b in [*variant.get("buttons", []), *buttons])
        yield text, titles


def check_facts(text: str, catalog: Catalog) -> None:
    phones, emails, urls, places = allowed_facts(catalog)
    for phone in PHONE.findall(text):
        assert re.sub(r"\D", "", phone) in phones, f"invented phone {phone!r} in {text!r}"
    for email in EMAIL.findall(text):
        assert email in emails, f"invented e-mail {email!r} in {text!r}"
    for url in URL.findall(text):
        url = url.rstrip(".,;:)")
        if osm := OSM.fullmatch(url):
            lat, lon = float(osm.group(1)), float(osm.group(2))
            assert (round(lat, 5), round(lon, 5)) in places, f"map link away from any catalog place: {url}"
        else:
            assert url in urls, f"invented URL {url!r} in {text!r}"


ALL_CASES = [*service_cases(), *procedure_cases(), *waste_cases(), *follow_up_cases()]


@pytest.mark.parametrize("variant", ["sample town", "no e-mail or website", "no contact at all", "no access notes"])
async def test_every_answer_quotes_only_the_catalogs_phones_emails_and_links(catalog, variant):
    town = {
        "sample town": catalog,
        "no e-mail or website": without(catalog, email=None, website=None),
        "no contact at all": without(catalog, phone=None, email=None, website=None),
        "no access notes": without(catalog, access=None, accessibility=None),
    }[variant]
    answered = 0
    for action, moment, text, intent, entities, slots in ALL_CASES:
        messages, _ = await run(action, town, paris(moment), text, intent, entities, slots)
        assert messages, f"{action.__name__} said nothing to {text!r} {entities} {slots}"
        for message in messages:
            for body, buttons in rendered(message.response, message.pieces, message.buttons):
                assert not PLACEHOLDER.search(body), f"unfilled {body!r} ({message.response})"
                assert "None" not in body, f"a missing value shows as None: {body!r}"
                check_facts(f"{body} {buttons}", catalog)
                answered += 1
    assert answered > 500


def test_the_fact_check_catches_an_invented_number_email_or_link(catalog):
    for invented in [
        "Appelez le 05 59 27 85 80.",
        "Écrivez à mairie@pau.fr.",
        "Voir https://www.pau.fr/horaires",
        "https://www.openstreetmap.org/?mlat=48.85661&mlon=2.35222#map=18/48.85661/2.35222",
    ]:
        with pytest.raises(AssertionError):
            check_facts(invented, catalog)
    check_facts("Appelez le 05 36 49 10 00 ou écrivez à accueil@demo-pau.example.", catalog)


def test_catalog_responses_write_no_contact_of_their_own():
    catalog_responses = {
        n: r
        for n, r in RESPONSES.items()
        if n.startswith(
            (
                "utter_hours",
                "utter_service",
                "utter_contact",
                "utter_procedure",
                "utter_waste",
                "utter_ask_which",
                "utter_ask_street",
            )
        )
    }
    assert len(catalog_responses) > 40
    for name, variants in catalog_responses.items():
        for variant in variants:
            text = variant["text"]
            assert not (PHONE.search(text) or EMAIL.search(text) or URL.search(text)), f"{name} hard-codes a contact"
