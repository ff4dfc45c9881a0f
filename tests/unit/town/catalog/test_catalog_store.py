"""The catalog lives in the database: the YAML files round-trip through it, changes are validated and audited."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import date
from pathlib import Path

import pytest
import yaml

from bot.db import create_engine_for
from bot.town.catalog import CatalogError, load_catalog
from bot.town.catalog.closures import ClosureError
from bot.town.catalog.documents import FILES, canonical, read_documents, write_documents
from bot.town.catalog.store import CatalogStore, UnknownItem, catalog_problem

ROOT = Path(__file__).resolve().parents[4]
TOWN = ROOT / "data" / "town"


@pytest.fixture()
def store(tmp_path: Path) -> CatalogStore:
    """An empty catalog database (SQLite file), its tables created."""
    catalog_store = CatalogStore(create_engine_for(f"sqlite:///{tmp_path / 'catalog.db'}"))
    catalog_store.create_schema()
    return catalog_store


@pytest.fixture()
def seeded(store: CatalogStore) -> CatalogStore:
    assert store.seed(TOWN)
    return store


def test_the_shipped_town_round_trips_through_the_database_without_loss(seeded: CatalogStore, tmp_path: Path):
    version, documents = seeded.snapshot()
    out = tmp_path / "exported"
    write_documents(documents, out)
    # the same catalog, as the actions see it
    assert load_catalog(out) == load_catalog(TOWN)
    # the same YAML documents (a date stays a date, a quoted postcode stays text)
    for name in FILES:
        exported, shipped = (yaml.safe_load((d / name).read_text(encoding="utf-8")) for d in (out, TOWN))
        assert exported == shipped, name
        assert canonical(exported) == canonical(shipped)
    # the files still say they hold demonstration data
    assert "DONNÉES DE DÉMONSTRATION" in (out / "services.yml").read_text(encoding="utf-8")
    # and importing the export changes nothing
    assert seeded.import_documents(read_documents(out), "test") == version == 1


def test_the_database_is_seeded_once_and_an_import_writes_only_what_changed(seeded: CatalogStore, tmp_path: Path):
    assert seeded.seed(TOWN) is False
    copy = tmp_path / "town"
    shutil.copytree(TOWN, copy)
    services = copy / "services.yml"
    services.write_text(services.read_text(encoding="utf-8").replace('"05 36 49 10 00"', '"05 36 49 10 99"'))
    assert seeded.import_documents(read_documents(copy), "cli:anne") == 2
    _, catalog = seeded.catalog()
    assert catalog.service("mairie").phone == "05 36 49 10 99"
    [change] = seeded.history(kind="service")[:1]
    assert (change.version, change.actor, change.action, change.item_id) == (2, "cli:anne", "import", "mairie")
    assert change.before is not None and change.before["phone"] == "05 36 49 10 00"
    assert change.after is not None and change.after["phone"] == "05 36 49 10 99"
    assert [c.item_id for c in seeded.history() if c.version == 2] == ["mairie"]


def test_a_closure_is_added_and_removed_with_its_history(seeded: CatalogStore):
    assert seeded.add_closure("mairie", date(2027, 3, 11), None, " Inventaire ", "cli:anne") == 2
    _, catalog = seeded.catalog()
    closure = next(c for c in catalog.service("mairie").closures if c.start == date(2027, 3, 11))
    assert (closure.end, closure.reason, closure.whole_day) == (date(2027, 3, 11), "Inventaire", True)
    added = seeded.history(1)[0]
    assert (added.action, added.actor, added.item_id) == ("closure_add", "cli:anne", "mairie")
    assert {"date": "2027-03-11", "reason": "Inventaire"} in added.after["closures"]
    assert {"date": "2027-03-11", "reason": "Inventaire"} not in added.before["closures"]

    assert seeded.add_closure("piscine", date(2027, 3, 1), date(2027, 3, 3), "Travaux", "console:bob") == 3
    closures = seeded.get_item("service", "piscine")["closures"]
    assert closures[-1] == {"from": "2027-03-01", "to": "2027-03-03", "reason": "Travaux"}  # kept in date order

    assert seeded.remove_closure("mairie", date(2027, 3, 11), "cli:anne") == 4
    assert load_catalog(TOWN).service("mairie") == seeded.catalog()[1].service("mairie")


@pytest.mark.parametrize(
    ("service", "start", "end", "reason", "words"),
    [
        ("mairi", date(2027, 3, 11), None, "x", ["service inconnu « mairi »", "unknown service 'mairi'", "mairie"]),
        ("mairie", date(2027, 3, 11), date(2027, 3, 10), "x", ["précède", "--to 2027-03-10 is before --from"]),
        ("mairie", date(2027, 3, 11), None, "  ", ["motif manquant", "missing reason"]),
        # the town hall closes at noon on Christmas Eve 2026 already
        ("mairie", date(2026, 12, 23), date(2026, 12, 26), "x", ["déjà une fermeture", "2026-12-24 (veille de Noël)"]),
    ],
)
def test_a_closure_that_cannot_be_added_is_refused_and_nothing_changes(
    seeded: CatalogStore, service: str, start: date, end: date | None, reason: str, words: list[str]
):
    with pytest.raises(ClosureError) as refused:
        seeded.add_closure(service, start, end, reason, "cli:anne")
    for word in words:
        assert word in str(refused.value)
    assert seeded.version() == 1


def test_removing_an_unknown_closure_names_the_closures_there_are(seeded: CatalogStore):
    with pytest.raises(ClosureError, match=r"no closure starting on 2027-03-11 \(closures: 2026-10-16, 2026-12-24"):
        seeded.remove_closure("mairie", date(2027, 3, 11), "cli:anne")
    with pytest.raises(ClosureError, match="unknown service 'zoo'"):
        seeded.remove_closure("zoo", date(2027, 3, 11), "cli:anne")
    assert seeded.version() == 1


def test_an_invalid_item_is_refused_naming_item_and_field_and_nothing_is_written(seeded: CatalogStore):
    mairie = seeded.get_item("service", "mairie")
    mairie["hours"]["monday"] = ["08:30-25:00"]
    with pytest.raises(CatalogError, match=r"services.yml: mairie: hours.monday\[0\]: '25:00' is not a time"):
        seeded.put_item("service", "mairie", mairie, "console:bob")
    # a procedure may not point at a service that does not exist
    passport = seeded.get_item("procedure", "passeport") | {"where": "zoo"}
    with pytest.raises(CatalogError, match="procedures.yml: passeport: where: 'zoo' is not a service id"):
        seeded.put_item("procedure", "passeport", passport, "console:bob")
    assert seeded.version() == 1 and seeded.history(1)[0].action == "seed"
    with pytest.raises(UnknownItem):
        seeded.get_item("service", "zoo")


def test_a_valid_item_is_put_and_becomes_the_live_one(seeded: CatalogStore):
    piscine = seeded.get_item("service", "piscine") | {"phone": "05 36 49 99 99"}
    assert seeded.put_item("service", "piscine", piscine, "console:bob") == 2
    assert seeded.catalog()[1].service("piscine").phone == "05 36 49 99 99"
    assert seeded.put_item("service", "piscine", piscine, "console:bob") == 2  # the same content: no new version


def test_an_invalid_seed_or_stored_catalog_is_reported_with_file_item_and_field(store: CatalogStore, tmp_path: Path):
    broken = tmp_path / "town"
    shutil.copytree(TOWN, broken)
    waste = broken / "waste.yml"
    waste.write_text(waste.read_text(encoding="utf-8").replace("postpone_days: 1", "postpone_days: 9"))
    problem = catalog_problem(store, broken)
    assert problem == (
        f"Invalid catalog ({broken}): waste.yml: holiday_rule: postpone_days: 9 is not a number of days between 1 and 6"
    )
    assert store.version() == 0  # nothing seeded from a broken directory

    assert catalog_problem(store, TOWN) is None and store.version() == 1
    # a row edited behind the catalog's back (by hand in SQL) is caught too
    with sqlite3.connect(store.engine.url.database) as connection:
        connection.execute(
            'UPDATE catalog_items SET document = replace(document, \'"gender": "f"\', \'"gender": "x"\') '
            "WHERE item_id = 'mairie'"
        )
    assert (
        catalog_problem(store, TOWN)
        == "Invalid catalog (database): services.yml: mairie: gender: 'x' is not one of m, f"
    )


def test_a_preview_validates_a_change_without_writing_it(seeded: CatalogStore):
    version = seeded.version()
    mairie = seeded.get_item("service", "mairie")
    previewed = seeded.preview_item("service", "mairie", {**mairie, "phone": "05 36 49 10 99"})
    assert previewed.service("mairie").phone == "05 36 49 10 99"
    with pytest.raises(CatalogError) as refused:
        seeded.preview_item("service", "mairie", {**mairie, "phone": "0536"})
    assert refused.value.field == "phone"
    assert seeded.version() == version and seeded.get_item("service", "mairie") == mairie
