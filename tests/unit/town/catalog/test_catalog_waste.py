"""Waste collection in the sample town: sector from the street, next dates, and the public-holiday rule."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.town.catalog import Catalog, StreetNotResolved, load_catalog
from bot.town.catalog.formatting import format_date
from bot.town.catalog.waste import next_collections

TOWN = Path(__file__).resolve().parents[4] / "data" / "town"

BRIEF_STREETS = [
    "Boulevard des Pyrénées", "Rue Serviez", "Rue du Maréchal Joffre", "Rue Henri IV", "Cours Bosquet",
    "Place Clemenceau", "Rue du Maréchal Foch", "Avenue Jean Mermoz", "Rue Carnot", "Rue des Cordeliers",
    "Rue Bernadotte", "Avenue de Lons", "Boulevard Barbanègre", "Rue Castetnau", "Avenue du Général Leclerc",
    "Rue Émile Guichenné", "Avenue Dufau", "Rue Pasteur", "Rue Montpensier", "Rue Louis Barthou", "Place Royale",
    "Rue Gassion", "Avenue Trespoey", "Avenue Gaston Lacoste", "Boulevard d'Alsace-Lorraine", "Rue Carrerot",
    "Avenue Philippon", "Rue Lamothe", "Allées de Morlaàs", "Avenue de Buros", "Boulevard de la Paix",
    "Avenue de Saragosse", "Rue Tran", "Avenue Norman Prince", "Rue Pierre Lasserre", "Place de Verdun",
    "Rue d'Etigny", "Avenue des Lilas", "Rue de Liège", "Chemin de Beyris",
]  # fmt: skip


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(TOWN)


def dates(collections) -> list[tuple[str, str | None]]:
    return [(c.regular.isoformat(), c.actual.isoformat() if c.actual else None) for c in collections]


def test_every_street_of_the_town_has_a_sector(catalog):
    names = {street.name for street in catalog.waste.streets.values()}
    assert set(BRIEF_STREETS) <= names
    assert len(catalog.waste.sectors) >= 4


def test_citizen_with_a_typo_in_the_street_gets_the_sector_and_next_days(catalog):
    result = catalog.collection_for_street("12 rue serviz", date(2026, 3, 10))
    assert (result.street.name, result.sector.id) == ("Rue Serviez", "centre")
    assert dates(result.streams["ordures_menageres"].upcoming) == [
        ("2026-03-10", "2026-03-10"),
        ("2026-03-11", "2026-03-11"),
    ]
    assert dates(result.streams["recyclables"].upcoming) == [("2026-03-10", "2026-03-10"), ("2026-03-13", "2026-03-13")]


def test_green_waste_every_other_week_skips_odd_weeks(catalog):
    result = catalog.collection_for_street("rue_serviez", date(2026, 3, 10))  # ISO week 11
    assert dates(result.streams["dechets_verts"].upcoming) == [
        ("2026-03-18", "2026-03-18"),
        ("2026-04-01", "2026-04-01"),
    ]


@pytest.mark.parametrize(
    ("street", "today", "stream", "expected"),
    [
        # Easter Monday: Monday's round moves to Tuesday.
        (
            "Cours Bosquet",
            date(2026, 4, 3),
            "ordures_menageres",
            [("2026-04-06", "2026-04-07"), ("2026-04-09", "2026-04-09")],
        ),
        # A round moved to today is still announced today.
        (
            "Cours Bosquet",
            date(2026, 4, 7),
            "ordures_menageres",
            [("2026-04-06", "2026-04-07"), ("2026-04-09", "2026-04-09")],
        ),
        # 14 July (Tuesday): moved to Wednesday.
        (
            "Avenue Jean Mermoz",
            date(2026, 7, 13),
            "ordures_menageres",
            [("2026-07-14", "2026-07-15"), ("2026-07-17", "2026-07-17")],
        ),
        # 25 December and 1 May: cancelled, not moved.
        (
            "Avenue Jean Mermoz",
            date(2026, 12, 22),
            "ordures_menageres",
            [("2026-12-22", "2026-12-22"), ("2026-12-25", None)],
        ),
        (
            "Avenue Jean Mermoz",
            date(2026, 4, 29),
            "ordures_menageres",
            [("2026-05-01", None), ("2026-05-05", "2026-05-05")],
        ),
        # Daily rounds: the moved Monday merges with Tuesday's round.
        (
            "Rue Serviez",
            date(2026, 4, 6),
            "ordures_menageres",
            [("2026-04-06", "2026-04-07"), ("2026-04-08", "2026-04-08")],
        ),
        # Recyclables on Ascension Thursday 2026-05-14: moved to Friday.
        (
            "Avenue de Saragosse",
            date(2026, 5, 12),
            "recyclables",
            [("2026-05-14", "2026-05-15"), ("2026-05-21", "2026-05-21")],
        ),
    ],
)
def test_collection_on_a_public_holiday_follows_the_town_rule(catalog, street, today, stream, expected):
    result = catalog.collection_for_street(street, today)
    assert dates(result.streams[stream].upcoming) == expected


def test_moved_and_cancelled_collections_name_the_holiday(catalog):
    moved, _ = catalog.collection_for_street("Cours Bosquet", date(2026, 4, 3)).streams["ordures_menageres"].upcoming
    assert (moved.moved, moved.cancelled, moved.holiday) == (True, False, "Lundi de Pâques")
    _, cancelled = (
        catalog.collection_for_street("Avenue Jean Mermoz", date(2026, 12, 22)).streams["ordures_menageres"].upcoming
    )
    assert (cancelled.moved, cancelled.cancelled, cancelled.holiday) == (False, True, "Noël")
    assert format_date(moved.actual) == "mardi 7 avril"


def test_the_holiday_rule_is_stated_for_citizens(catalog):
    rule = catalog.waste.holiday_rule
    assert (rule.postpone_days, rule.cancelled) == (1, ((5, 1), (12, 25)))
    assert "lendemain" in rule.description and "25 décembre" in rule.description


class TwoHolidaysInARow:
    def holiday_name(self, day: date) -> str | None:
        return "jour férié" if day in (date(2026, 3, 9), date(2026, 3, 10)) else None


def test_a_postponed_collection_skips_a_second_holiday(catalog):
    schedule = catalog.waste.sectors["est"].schedules["ordures_menageres"]  # Monday and Thursday
    upcoming = next_collections(schedule, catalog.waste.holiday_rule, date(2026, 3, 9), 1, TwoHolidaysInARow())
    assert dates(upcoming) == [("2026-03-09", "2026-03-11")]


def test_glass_goes_to_drop_off_points_and_bulky_items_need_an_appointment(catalog):
    result = catalog.collection_for_street("bd des pyrenees", date(2026, 3, 10))
    glass, bulky = result.streams["verre"], result.streams["encombrants"]
    assert glass.stream.mode == "apport_volontaire" and not glass.upcoming
    assert [p.name for p in glass.drop_off_points] == ["Colonne Place de Verdun", "Colonne Place Clemenceau"]
    assert bulky.stream.mode == "rendez_vous" and not bulky.upcoming
    assert bulky.stream.phone == "05 36 49 12 00" and bulky.stream.url == "https://www.demo-pau.example/encombrants"


@pytest.mark.parametrize(("typed", "candidates"), [("rue du marechal", 2), ("rue de Rivoli", 0)])
def test_an_unclear_street_is_not_guessed(catalog, typed, candidates):
    with pytest.raises(StreetNotResolved) as error:
        catalog.collection_for_street(typed, date(2026, 3, 10))
    assert len(error.value.candidates) == candidates
