"""Duplicate reports: same category, open, within 50 m, or on the same street when there are no coordinates."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.db import create_engine_for
from bot.town.tickets import TicketDraft, TicketStore, create_schema
from bot.town.tickets.location import EARTH_RADIUS_M, degrees_of_latitude, haversine_m, normalise_street

PLACE_ROYALE = (43.2948, -0.3717)


@pytest.fixture
def store(tmp_path: Path) -> TicketStore:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    create_schema(engine)
    return TicketStore(engine)


def report(store: TicketStore, code: str = "eclairage_public", **values: object) -> str:
    return store.create_ticket(TicketDraft(service_code=code, channel="webchat", sender_id="w1", **values)).ref  # type: ignore[arg-type]


def north_of(point: tuple[float, float], metres: float) -> tuple[float, float]:
    return point[0] + degrees_of_latitude(metres), point[1]


@pytest.mark.parametrize(
    ("metres", "offered"), [(0.0, True), (30.0, True), (49.9, True), (50.1, False), (200.0, False)]
)
def test_open_report_of_the_same_category_within_50_m_is_offered(
    store: TicketStore, metres: float, offered: bool
) -> None:
    ref = report(store, lat=PLACE_ROYALE[0], long=PLACE_ROYALE[1])
    lat, long = north_of(PLACE_ROYALE, metres)

    candidates = store.find_duplicates("eclairage_public", lat=lat, long=long)

    assert [c.ticket.ref for c in candidates] == ([ref] if offered else [])
    if offered:
        assert candidates[0].distance_m == pytest.approx(metres, abs=0.01)


def test_closest_duplicate_comes_first(store: TicketStore) -> None:
    far = report(store, lat=north_of(PLACE_ROYALE, 40)[0], long=PLACE_ROYALE[1])
    near = report(store, lat=north_of(PLACE_ROYALE, 10)[0], long=PLACE_ROYALE[1])
    middle = report(store, lat=north_of(PLACE_ROYALE, 25)[0], long=PLACE_ROYALE[1])

    candidates = store.find_duplicates("eclairage_public", lat=PLACE_ROYALE[0], long=PLACE_ROYALE[1])

    assert [c.ticket.ref for c in candidates] == [near, middle, far]


def test_other_category_or_closed_ticket_is_not_a_duplicate(store: TicketStore) -> None:
    report(store, code="graffiti", lat=PLACE_ROYALE[0], long=PLACE_ROYALE[1])
    closed = report(store, lat=PLACE_ROYALE[0], long=PLACE_ROYALE[1])
    store.set_status(closed, "traite", "Lampe changée", "agent")

    assert store.find_duplicates("eclairage_public", lat=PLACE_ROYALE[0], long=PLACE_ROYALE[1]) == []


def test_without_coordinates_the_same_street_is_a_duplicate(store: TicketStore) -> None:
    same = report(store, code="voirie", address="12 rue Serviez")
    report(store, code="voirie", address="3 rue Carnot")

    candidates = store.find_duplicates("voirie", street="Rue Serviez")

    assert [(c.ticket.ref, c.distance_m) for c in candidates] == [(same, None)]


def test_located_report_matches_an_unlocated_one_on_the_same_street(store: TicketStore) -> None:
    unlocated = report(store, code="voirie", address="bd des pyrenees")
    located = report(store, code="voirie", address="Boulevard des Pyrénées", lat=43.2942, long=-0.3690)

    candidates = store.find_duplicates("voirie", lat=43.2942, long=-0.3691, street="Boulevard des Pyrénées")

    assert [c.ticket.ref for c in candidates] == [located, unlocated]


def test_report_with_no_location_has_no_duplicate(store: TicketStore) -> None:
    report(store, code="voirie", address="12 rue Serviez")
    assert store.find_duplicates("voirie") == []


def test_haversine_gives_a_degree_of_latitude_in_metres() -> None:
    assert haversine_m(43.0, -0.37, 44.0, -0.37) == pytest.approx(EARTH_RADIUS_M * 3.141592653589793 / 180, rel=1e-9)
    assert haversine_m(*PLACE_ROYALE, *PLACE_ROYALE) == 0.0


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("12 rue Serviez", "rue serviez"),
        ("Rue Serviez", "rue serviez"),
        ("bd des pyrenees", "boulevard des pyrenees"),
        ("Boulevard des Pyrénées", "boulevard des pyrenees"),
        ("14 Av. Jean Mermoz", "avenue jean mermoz"),
        ("12 bis, Rue d'Etigny, 64000 Pau", "rue d etigny"),
        ("Allées de Morlaàs", "allees de morlaas"),
        ("", None),
        (None, None),
    ],
)
def test_street_names_are_compared_without_numbers_accents_or_abbreviations(
    typed: str | None, normalised: str | None
) -> None:
    assert normalise_street(typed) == normalised
