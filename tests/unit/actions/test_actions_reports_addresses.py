"""A typed address located by the address base: the report carries its coordinates, the duplicate check uses the
50 m rule, and the ticket is created with `lat` and `long`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rasa_sdk.events import SlotSet

from actions.reports import ActionReportCreate, ActionReportReview
from actions.tickets_access import TicketsAccess, open_services
from bot.db import create_engine_for
from bot.settings import ROOT
from bot.town.catalog import load_catalog
from bot.town.catalog.addresses import SEED_FILE, AddressStore
from bot.town.catalog.geocoding import Geocoder, LiveGeocoder
from bot.town.tickets import TicketDraft, TicketStore
from bot.town.tickets.location import haversine_m
from tests.unit.actions.test_actions_reports import run, tracker, validate

DEMO = ROOT / "data" / "town" / SEED_FILE


@pytest.fixture
def store(tmp_path: Path) -> TicketStore:
    return TicketStore(create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}"))


@pytest.fixture
def access(store: TicketStore) -> TicketsAccess:
    """The report actions with the demonstration addresses, seeded into the database at first use."""

    def live() -> LiveGeocoder:
        addresses = AddressStore(store.engine)
        addresses.create_schema()
        return LiveGeocoder(addresses, DEMO)

    return TicketsAccess(lambda: open_services(store, lambda: load_catalog(ROOT / "data" / "town")), addresses=live)


async def geocoder(access: TicketsAccess) -> Geocoder:
    return (await access.services()).geocoder


@pytest.mark.parametrize(
    ("typed", "entity", "location", "street"),
    [
        ("40 avenue de Lons", None, "40 Avenue de Lons", "Avenue de Lons"),
        ("c'est devant le 12 r serviez", "12 r serviez", "12 Rue Serviez", "Rue Serviez"),
        ("devant le 40 avenue de lons", "avenue de lons", "40 Avenue de Lons", "Avenue de Lons"),  # entity cut short
        ("à l'angle de la rue Serviez et de la rue Carnot", None, "Rue Serviez / Rue Carnot", "Rue Serviez"),
    ],
)
async def test_a_typed_address_fills_the_place_with_its_coordinates(access, typed, entity, location, street):
    entities = {"address": entity} if entity else None
    slots, _ = await validate(access, tracker(typed, requested="report_location", entities=entities))
    assert (slots["report_location"], slots["report_street"]) == (location, street)
    found = (await geocoder(access)).geocode(location)  # what is shown locates the same place
    assert found is not None and (slots["report_lat"], slots["report_long"]) == (found.lat, found.lon)


async def test_a_street_without_number_or_an_unknown_place_has_no_coordinates(access):
    slots, _ = await validate(access, tracker("avenue de lons", requested="report_location"))
    assert (slots["report_location"], slots["report_street"], slots["report_lat"]) == ("Avenue de Lons",) * 2 + (None,)
    slots, _ = await validate(access, tracker("derrière le gymnase", requested="report_location"))
    assert (slots["report_location"], slots["report_street"], slots["report_lat"]) == (
        "derrière le gymnase",
        None,
        None,
    )


LOCATED: dict[str, Any] = {
    "report_category": "voirie",
    "report_description": "gros trou",
    "report_photo": "none",
    "report_contact": "none",
}


async def located(access: TicketsAccess, typed: str) -> dict[str, Any]:
    """The report's slots after the citizen typed `typed` as its place."""
    slots, _ = await validate(access, tracker(typed, requested="report_location"))
    return LOCATED | {k: slots[k] for k in ("report_location", "report_street", "report_lat", "report_long")}


async def test_an_open_ticket_within_50_m_of_the_typed_address_is_offered(access, store):
    across = await located(access, "41 avenue de Lons")  # the other side of the avenue
    existing = store.create_ticket(
        TicketDraft("voirie", address=across["report_location"], street=across["report_street"],
                    lat=across["report_lat"], long=across["report_long"], channel="sms", sender_id="other")
    )  # fmt: skip
    slots = await located(access, "40 avenue de Lons")
    assert haversine_m(slots["report_lat"], slots["report_long"], existing.lat, existing.long) < 50
    events, messages = await run(ActionReportReview(access), tracker("", "deny", slots=slots, form_turn=False))
    assert [(m["response"], m["ticket_ref"]) for m in messages] == [("utter_report_duplicate", existing.ref)]
    assert SlotSet("report_duplicate", existing.ref) in events


async def test_an_open_ticket_further_along_the_same_street_is_not_a_duplicate(access, store):
    far = await located(access, "2 avenue de Lons")
    store.create_ticket(
        TicketDraft("voirie", address=far["report_location"], street=far["report_street"], lat=far["report_lat"],
                    long=far["report_long"], channel="sms", sender_id="other")
    )  # fmt: skip
    slots = await located(access, "40 avenue de Lons")
    assert haversine_m(slots["report_lat"], slots["report_long"], far["report_lat"], far["report_long"]) > 50
    _, messages = await run(ActionReportReview(access), tracker("", "deny", slots=slots, form_turn=False))
    assert [m["response"] for m in messages] == ["utter_report_summary"]
    assert messages[0]["location"] == "40 Avenue de Lons"


async def test_the_confirmed_report_becomes_a_ticket_with_lat_and_long(access, store):
    slots = await located(access, "40 avenue de Lons") | {"report_stage": "summary"}
    _, messages = await run(ActionReportCreate(access), tracker("oui", "affirm", slots=slots, form_turn=False))
    ticket = store.get_ticket(messages[0]["ticket_ref"])
    assert ticket is not None
    assert (ticket.address, ticket.street, ticket.lat, ticket.long) == (
        "40 Avenue de Lons",
        "avenue de lons",
        slots["report_lat"],
        slots["report_long"],
    )
    assert 43.29 < ticket.lat < 43.31 and -0.38 < ticket.long < -0.35  # type: ignore[operator]


async def test_a_shared_position_is_named_after_the_nearest_address_and_keeps_its_own_coordinates(access):
    forty = (await geocoder(access)).geocode("40 avenue de Lons")
    assert forty is not None
    lat, lon = forty.lat + 0.00003, forty.lon  # about 3 m away
    t = tracker("", requested="report_location", metadata={"location": {"latitude": lat, "longitude": lon}})
    slots, messages = await validate(access, t)
    assert messages == [dict(messages[0], response="utter_report_position_street", location="40 Avenue de Lons")]
    assert (slots["report_location"], slots["report_street"]) == ("40 Avenue de Lons", "Avenue de Lons")
    assert (slots["report_lat"], slots["report_long"]) == (lat, lon)
    far = tracker("", requested="report_location", metadata={"location": {"latitude": 43.35, "longitude": -0.30}})
    slots, messages = await validate(access, far)
    assert messages[0]["response"] == "utter_report_position_kept" and slots["report_street"] is None
