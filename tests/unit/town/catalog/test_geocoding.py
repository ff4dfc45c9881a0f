"""Typed places to coordinates: house numbers, interpolation on the same side, streets, intersections; nothing when
unsure, never a wrong street with confidence."""

from __future__ import annotations

import pytest

from bot.db import create_engine_for
from bot.settings import ROOT
from bot.town.catalog.addresses import SEED_FILE, AddressPoint, AddressStore, read_ban_file
from bot.town.catalog.geocoding import Geocoder, LiveGeocoder, split_house_number
from bot.town.tickets.location import haversine_m

DEMO = ROOT / "data" / "town" / SEED_FILE


def point(number: int | None, street: str, lat: float, lon: float, rep: str = "", insee: str = "64445") -> AddressPoint:
    ident = f"{insee}_{street}_{number}{rep}"
    return AddressPoint(ident, number, rep, street, "64000", insee, "Pau" if insee == "64445" else "Lons", lat, lon)


# Avenue de Lons, westward: odd numbers on one side, even on the other, 44 missing.
LONS = [point(n, "Avenue de Lons", 43.3000 + n * 1e-5, -0.3760 - n * 4e-5) for n in (1, 3, 40, 41, 42, 46, 48)]
SERVIEZ = [point(n, "Rue Serviez", 43.2958 + n * 2e-5, -0.3688) for n in (1, 2, 10, 12, 14)]
SERVIEZ.append(point(12, "Rue Serviez", 43.29585 + 24e-5, -0.36881, rep="bis"))
CARNOT = [point(n, "Rue Carnot", 43.2961 + n * 2e-5, -0.3690) for n in (1, 2, 20)]  # starts where Serviez ends
FAR = [point(n, "Boulevard de la Paix", 43.3090, -0.3700 + n * 1e-4) for n in (1, 2)]


@pytest.fixture(scope="module")
def geocoder() -> Geocoder:
    return Geocoder([*LONS, *SERVIEZ, *CARNOT, *FAR])


@pytest.mark.parametrize(
    ("typed", "label", "precision"),
    [
        ("40 avenue de Lons", "40 Avenue de Lons", "housenumber"),
        ("41 avenue de Lons", "41 Avenue de Lons", "housenumber"),
        ("devant le 12 rue Serviez", "12 Rue Serviez", "housenumber"),
        ("12 r serviez", "12 Rue Serviez", "housenumber"),
        ("12 bis rue Serviez", "12 bis Rue Serviez", "housenumber"),
        ("au 40 av. de Lons", "40 Avenue de Lons", "housenumber"),
        ("40 AVENUE DE LONS, devant la pharmacie", "40 Avenue de Lons", "housenumber"),
        ("il y a un trou devant le 40 avenue de lons", "40 Avenue de Lons", "housenumber"),
        ("40 avnue de lonss", "40 Avenue de Lons", "housenumber"),  # two typos
        ("12 rue servier", "12 Rue Serviez", "housenumber"),
        ("44 avenue de Lons", "44 Avenue de Lons", "interpolated"),
        ("avenue de Lons", "Avenue de Lons", "street"),
        ("rue serviez", "Rue Serviez", "street"),
        ("500 avenue de Lons", "500 Avenue de Lons", "street"),  # beyond the known numbers: the street only
        ("40 avenue de lons près de la boulangerie", "40 Avenue de Lons", "housenumber"),
        ("il y a 2 trous rue Serviez", "Rue Serviez", "street"),  # 2 counts the holes: not a house number
    ],
)
def test_typed_addresses_are_located_with_what_matched_and_how_precisely(geocoder, typed, label, precision):
    found = geocoder.geocode(typed)
    assert found is not None
    assert (found.label, found.precision) == (label, precision)
    assert found.approximate is (precision == "street")
    assert found.postcode == "64000" and found.commune == "Pau"


def test_a_house_number_is_its_own_point():
    found = Geocoder(LONS).geocode("40 avenue de lons")
    assert found is not None and (found.lat, found.lon) == (LONS[2].lat, LONS[2].lon)
    assert found.street == "Avenue de Lons" and found.number == "40"


def test_a_missing_number_lies_between_its_neighbours_on_the_same_side():
    found = Geocoder(LONS).geocode("44 avenue de lons")
    n42, n46 = next(p for p in LONS if p.number == 42), next(p for p in LONS if p.number == 46)
    assert found is not None
    assert found.lat == pytest.approx((n42.lat + n46.lat) / 2) and found.lon == pytest.approx((n42.lon + n46.lon) / 2)
    assert Geocoder([p for p in LONS if p.number not in (46, 48)]).geocode("44 avenue de lons").precision == "street"  # type: ignore[union-attr]


def test_a_street_alone_is_its_centroid_marked_approximate(geocoder):
    found = geocoder.geocode("rue Carnot")
    assert found is not None and found.approximate and found.number is None
    assert found.lat == pytest.approx(sum(p.lat for p in CARNOT) / 3)
    assert found.lon == pytest.approx(sum(p.lon for p in CARNOT) / 3)


@pytest.mark.parametrize(
    "typed",
    [
        "angle rue Serviez et rue Carnot",
        "à l'angle de la rue Serviez et de la rue Carnot",
        "au coin de la r serviez et rue carnot",
        "croisement rue Serviez x rue Carnot",
        "rue Serviez / rue Carnot",
    ],
)
def test_an_intersection_is_the_midpoint_of_the_closest_points_of_the_two_streets(geocoder, typed):
    found = geocoder.geocode(typed)
    assert found is not None and found.precision == "intersection"
    assert (found.street, found.other_street) == ("Rue Serviez", "Rue Carnot")
    assert found.label == "Rue Serviez / Rue Carnot" and geocoder.geocode(found.label) == found
    end_of_serviez, start_of_carnot = SERVIEZ[-1], CARNOT[0]  # 12 bis Serviez and 1 Carnot are the closest pair
    assert found.lat == pytest.approx((end_of_serviez.lat + start_of_carnot.lat) / 2)
    assert found.lon == pytest.approx((end_of_serviez.lon + start_of_carnot.lon) / 2)


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "bonjour",
        "12 rue inconnue",
        "avenue Serviez",  # the name of a rue, with another street type: maybe another street, not sure
        "rue de la paix",  # there is a Boulevard de la Paix only
        "12 rue",
        "angle rue Serviez et boulevard de la Paix",  # they do not meet
        "angle rue Serviez et rue Serviez",
        "angle rue Serviez et rue Inconnue",
    ],
)
def test_nothing_is_returned_when_unsure(geocoder, typed):
    assert geocoder.geocode(typed) is None


def test_the_same_street_name_in_two_communes_is_ambiguous():
    twice = Geocoder([*LONS, point(40, "Avenue de Lons", 43.31, -0.39, insee="64348")])
    assert twice.geocode("40 avenue de Lons") is None
    assert Geocoder([]).geocode("40 avenue de Lons") is None


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("40 avenue de Lons", (40, "", "avenue de lons")),
        ("devant le 12 bis r Serviez", (12, "bis", "r serviez")),
        ("c'est au n°7b rue Tran", (7, "b", "rue tran")),
        ("rue Tran", (None, "", "rue tran")),
    ],
)
def test_house_numbers_are_split_from_the_street(typed, expected):
    assert split_house_number(typed) == expected


def test_the_demonstration_addresses_give_40_and_41_avenue_de_lons_on_opposite_sides():
    geocoder = Geocoder(read_ban_file(DEMO))
    even, odd = geocoder.geocode("40 avenue de Lons"), geocoder.geocode("41 avenue de Lons")
    assert even is not None and odd is not None
    assert 10 < haversine_m(even.lat, even.lon, odd.lat, odd.lon) < 40  # across the avenue


def test_the_live_geocoder_seeds_an_empty_table_and_follows_later_imports(tmp_path):
    store = AddressStore(create_engine_for(f"sqlite:///{tmp_path / 'a.db'}"))
    store.create_schema()
    now = [0.0]
    live = LiveGeocoder(store, DEMO, check_seconds=1.0, clock=lambda: now[0])
    assert live.get().geocode("40 avenue de lons") is not None  # seeded at first use
    store.replace([point(1, "Rue Inédite", 43.3, -0.37)], "cli:anne", "pau.csv")  # Pau's addresses replaced
    assert live.get().geocode("1 rue inedite") is None  # not checked again yet
    now[0] = 2.0
    assert live.get().geocode("1 rue inedite") is not None
    assert live.get().geocode("40 avenue de lons") is None  # Pau's addresses were replaced


def test_the_live_geocoder_answers_nothing_rather_than_failing_when_the_database_is_down(tmp_path):
    store = AddressStore(create_engine_for(f"sqlite:///{tmp_path / 'missing' / 'a.db'}"))
    live = LiveGeocoder(store, DEMO)
    assert live.get().geocode("40 avenue de lons") is None


def test_the_nearest_numbered_address_names_a_shared_position(geocoder):
    n40 = LONS[2]
    assert geocoder.nearest(n40.lat + 0.00002, n40.lon) == n40
    assert geocoder.nearest(43.35, -0.30) is None  # further than 50 m from every address


def test_a_street_is_known_by_its_type_and_last_name():
    found = Geocoder(read_ban_file(DEMO)).geocode("8 rue joffre")
    assert found is not None and (found.label, found.precision) == ("8 Rue du Maréchal Joffre", "housenumber")


def test_an_empty_address_table_is_checked_again_only_when_due(tmp_path):
    store = AddressStore(create_engine_for(f"sqlite:///{tmp_path / 'a.db'}"))
    store.create_schema()
    now = [0.0]
    live = LiveGeocoder(store, None, check_seconds=1.0, clock=lambda: now[0])
    empty = live.get()
    assert empty.street_count == 0 and live.current() is empty  # an empty geocoder is still held between checks
    store.replace([point(1, "Rue Tran", 43.3, -0.37)], "cli:anne", "pau.csv")
    now[0] = 2.0
    assert live.get().street_count == 1
