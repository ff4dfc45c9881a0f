"""Importing the national Annuaire de l'administration export into catalog entries."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from bot.town.catalog import import_annuaire, status_at
from bot.town.catalog.formatting import format_ranges
from bot.town.catalog.hours import PARIS, hours_on
from bot.town.catalog.loader import load_services

FIXTURE = Path(__file__).resolve().parents[4] / "tests" / "data" / "annuaire" / "export_pau.json"


@pytest.fixture
def imported(tmp_path):
    out = tmp_path / "services_annuaire.yml"
    report = import_annuaire(FIXTURE, out)
    return report, load_services(out)


def test_the_fixture_is_shaped_like_the_real_export():
    records = json.loads(FIXTURE.read_text(encoding="utf-8"))["service"]
    assert 6 <= len(records) <= 10
    assert isinstance(records[0]["plage_ouverture"], str) and isinstance(records[0]["adresse"], str)


def test_importer_writes_entries_the_loader_accepts(imported):
    report, services = imported
    assert report.imported == [
        "mairie",
        "mairie_annexe",
        "ccas",
        "police_municipale",
        "mediatheque",
        "maison_de_la_citoyennete",
    ]
    assert list(services) == report.imported


def test_skipped_records_come_with_their_reason(imported):
    report, _ = imported
    assert [(s.index, s.name, s.reason.split(" (")[0]) for s in report.skipped] == [
        (6, "Piscine municipale Norman-Prince", "plage_ouverture: invalid JSON"),
        (7, "Cimetière urbain de Pau", "adresse: no coordinates"),
        (8, "Mairie de Pau - accueil des familles", "duplicate id 'mairie'"),
    ]


@pytest.mark.parametrize(
    ("service_id", "day", "ranges"),
    [
        ("mairie", date(2026, 3, 9), "de 8h30 à 12h et de 13h30 à 17h"),  # "Lundi" → "Vendredi" range
        ("mairie", date(2026, 3, 13), "de 8h30 à 12h et de 13h30 à 17h"),
        ("mairie", date(2026, 3, 14), "fermé"),
        ("mairie_annexe", date(2026, 3, 9), "fermé"),
        ("mairie_annexe", date(2026, 3, 14), "de 9h à 12h"),  # second plage of the record
        ("ccas", date(2026, 3, 12), "de 8h30 à 12h30 et de 13h30 à 16h30"),
        ("ccas", date(2026, 3, 13), "de 8h30 à 12h30"),  # empty nom_jour_fin: a single day
        ("police_municipale", date(2026, 3, 14), "de 7h30 à 19h30"),  # fields already decoded
    ],
)
def test_opening_ranges_become_weekly_hours(imported, service_id, day, ranges):
    _, services = imported
    assert format_ranges(hours_on(services[service_id], day).ranges) == ranges


def test_contacts_are_normalised(imported):
    _, services = imported
    assert services["mairie_annexe"].phone == "05 36 49 10 10"  # from +33 5 36 49 10 10
    assert services["police_municipale"].phone == "05 36 49 10 50"  # from 0536491050
    assert services["mediatheque"].email == "mediatheque@demo-pau.example"  # first of a ';' list
    assert services["mediatheque"].website == "http://www.demo-pau.example/mediatheque"
    assert services["mairie"].address.one_line() == "Place Royale, 64000 Pau"
    assert (services["mairie"].lat, services["mairie"].lon) == (43.29532, -0.37084)


def test_labels_agree_for_mapped_and_unmapped_services(imported):
    _, services = imported
    assert (services["mairie"].label, services["mairie"].gender) == ("la mairie", "f")
    assert (services["ccas"].label, services["ccas"].gender) == ("le CCAS", "m")
    citizenship = services["maison_de_la_citoyennete"]
    assert (citizenship.label, citizenship.gender) == ("la maison de la citoyenneté", "f")


def test_accessibility_code_is_spelt_out(imported):
    _, services = imported
    assert services["maison_de_la_citoyennete"].accessibility == "Non accessible en fauteuil roulant."


def test_an_imported_service_answers_open_now(imported):
    _, services = imported
    status = status_at(services["mairie"], datetime(2026, 3, 10, 16, 20, tzinfo=PARIS))
    assert status.is_open and status.closes_in == timedelta(minutes=40)


def test_a_custom_mapping_chooses_the_ids(tmp_path):
    report = import_annuaire(FIXTURE, tmp_path / "out.yml", mapping={"citoyennete": "mairie_annexe"})
    assert "mairie_annexe" in report.imported and "mairie_de_pau" in report.imported


def test_an_export_that_is_not_a_list_is_refused(tmp_path):
    export = tmp_path / "export.json"
    export.write_text(json.dumps({"records": []}), encoding="utf-8")
    with pytest.raises(ValueError, match="export.json: expected a list of records"):
        import_annuaire(export, tmp_path / "out.yml")


def test_a_bare_list_export_is_accepted(tmp_path):
    records = json.loads(FIXTURE.read_text(encoding="utf-8"))["service"][:2]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(records), encoding="utf-8")
    assert import_annuaire(export, tmp_path / "out.yml").imported == ["mairie", "mairie_annexe"]
