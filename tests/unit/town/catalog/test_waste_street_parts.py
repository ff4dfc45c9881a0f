"""A street split between waste sectors by side (even or odd numbers) and range: validation, lookup, round trip;
files without parts stay valid."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from bot.db import create_engine_for
from bot.town.catalog import CatalogError, load_catalog
from bot.town.catalog.documents import read_documents, write_documents
from bot.town.catalog.models import StreetPart
from bot.town.catalog.store import CatalogStore
from bot.town.catalog.waste import HouseNumberNeeded

TOWN = Path(__file__).resolve().parents[4] / "data" / "town"
TUESDAY = date(2026, 3, 10)


def town_with_streets(tmp_path: Path, streets: dict[str, list]) -> Path:
    """A copy of the shipped town whose sectors list these streets (sector id -> items)."""
    town = tmp_path / "town"
    shutil.copytree(TOWN, town)
    path = town / "waste.yml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for sector in document["sectors"]:
        sector["streets"] = streets.get(sector["id"], [])
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return town


def test_the_side_and_the_range_of_the_house_number_choose_the_sector():
    catalog = load_catalog(TOWN)
    lons = catalog.street("avenue_de_lons")
    assert lons.split and set(lons.parts) == {StreetPart("ouest", "even"), StreetPart("nord", "odd")}
    assert catalog.collection_for_street("40 avenue de lons", TUESDAY, number=40).sector.id == "ouest"
    assert catalog.collection_for_street("avenue de lons", TUESDAY, number=41).sector.id == "nord"
    assert catalog.collection_for_street("barbanegre", TUESDAY, number=30).sector.id == "ouest"
    assert catalog.collection_for_street("barbanegre", TUESDAY, number=31).sector.id == "nord"
    # a street in one piece ignores the number
    assert catalog.collection_for_street("rue serviez", TUESDAY, number=41).sector.id == "centre"
    assert catalog.collection_for_street("rue serviez", TUESDAY).sector.id == "centre"


def test_a_split_street_without_a_number_or_with_one_in_no_part_needs_the_number(tmp_path):
    with pytest.raises(HouseNumberNeeded) as needed:
        load_catalog(TOWN).collection_for_street("avenue de lons", TUESDAY)
    assert needed.value.street.name == "Avenue de Lons" and needed.value.number is None
    town = town_with_streets(
        tmp_path, {"ouest": [{"name": "Rue Tran", "last": 20}], "nord": [{"name": "Rue Tran", "first": 30}]}
    )
    with pytest.raises(HouseNumberNeeded):
        load_catalog(town).collection_for_street("rue tran", TUESDAY, number=25)


@pytest.mark.parametrize(
    ("streets", "problem"),
    [
        ({"ouest": [{"name": "Rue Tran", "side": "even"}], "nord": [{"name": "Rue Tran", "first": 10}]},
         "waste.yml: ouest: streets[0]: 'Rue Tran': these numbers are already in sector 'nord'"),
        ({"ouest": ["Rue Tran"], "nord": [{"name": "Rue Tran", "side": "odd"}]},
         "waste.yml: ouest: streets[0]: 'Rue Tran' is already in sector 'nord'"),
        ({"ouest": [{"name": "Rue Tran", "side": "odd"}], "nord": ["Rue Tran"]},
         "waste.yml: ouest: streets[0]: 'Rue Tran' is already in sector 'nord'"),
        ({"ouest": [{"name": "Rue Tran", "side": "left"}]},
         "waste.yml: ouest: streets[0].side: 'left' is not one of all, even, odd"),
        ({"ouest": [{"name": "Rue Tran", "first": 20, "last": 10}]},
         "waste.yml: ouest: streets[0].last: is below first"),
        ({"ouest": [{"name": "Rue Tran", "first": "douze"}]},
         "waste.yml: ouest: streets[0].first: 'douze' is not a house number"),
        ({"ouest": [{"name": "Rue Tran"}]},
         "waste.yml: ouest: streets[0].side: a part needs a side (even or odd) or bounds"),
        ({"ouest": [{"name": "Rue Tran", "side": "odd", "cote": "nord"}]},
         "waste.yml: ouest: streets[0].cote: unknown field"),
        ({"ouest": [{"side": "odd"}]},
         "waste.yml: ouest: streets[0].name: missing"),
    ],
)  # fmt: skip
def test_parts_that_overlap_or_are_malformed_are_refused_with_file_sector_and_field(tmp_path, streets, problem):
    with pytest.raises(CatalogError) as refused:
        load_catalog(town_with_streets(tmp_path, streets))
    assert str(refused.value).startswith(problem)


def test_sides_and_ranges_that_do_not_overlap_are_accepted(tmp_path):
    town = town_with_streets(
        tmp_path,
        {
            "ouest": [{"name": "Rue Tran", "side": "even", "last": 40}, {"name": "Rue Carnot", "side": "odd"}],
            "nord": [{"name": "Rue Tran", "side": "even", "first": 42}, {"name": "Rue Carnot", "side": "even"}],
            "est": [{"name": "Rue Tran", "side": "odd"}],
        },
    )
    catalog = load_catalog(town)
    sectors = {n: catalog.collection_for_street("rue tran", TUESDAY, number=n).sector.id for n in (2, 40, 42, 99, 1)}
    assert sectors == {2: "ouest", 40: "ouest", 42: "nord", 99: "est", 1: "est"}


def test_split_streets_round_trip_through_yaml_and_the_database(tmp_path):
    store = CatalogStore(create_engine_for(f"sqlite:///{tmp_path / 'catalog.db'}"))
    store.create_schema()
    assert store.seed(TOWN)
    _version, documents = store.snapshot()
    out = tmp_path / "exported"
    write_documents(documents, out)
    text = (out / "waste.yml").read_text(encoding="utf-8")
    assert "- {name: Avenue de Lons, side: even}" in text and "- {name: Boulevard Barbanègre, first: 31}" in text
    assert load_catalog(out) == load_catalog(TOWN)
    assert yaml.safe_load(text) == yaml.safe_load((TOWN / "waste.yml").read_text(encoding="utf-8"))
    version = store.version()
    assert store.import_documents(read_documents(out), "test") == version  # nothing changed


def test_a_waste_file_of_plain_street_names_is_still_valid(tmp_path):
    town = town_with_streets(tmp_path, {"ouest": ["Avenue de Lons", "Boulevard Barbanègre"], "nord": ["Rue Tran"]})
    catalog = load_catalog(town)
    lons = catalog.street("avenue_de_lons")
    assert (lons.sector, lons.parts, lons.split) == ("ouest", (), False)
    assert catalog.collection_for_street("avenue de lons", TUESDAY).sector.id == "ouest"
