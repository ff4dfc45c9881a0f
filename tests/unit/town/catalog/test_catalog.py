"""The sample town's catalog: complete, validated, and found from what citizens type."""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path

import pytest
import yaml

from bot.town.catalog import PROCEDURE_IDS, SERVICE_IDS, Catalog, CatalogError, load_catalog
from bot.town.catalog.loader import load_procedures, load_services, load_waste

TOWN = Path(__file__).resolve().parents[4] / "data" / "town"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(TOWN)


def test_every_canonical_service_and_procedure_is_in_the_catalog(catalog):
    assert sorted(catalog.services) == sorted(SERVICE_IDS)
    assert sorted(catalog.procedures) == sorted(PROCEDURE_IDS)


def test_the_town_files_say_they_are_demonstration_data():
    for name in ("services.yml", "procedures.yml", "waste.yml"):
        assert "DONNÉES DE DÉMONSTRATION" in (TOWN / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("service_id", SERVICE_IDS)
def test_every_service_can_be_reached_without_reaching_anyone_real(catalog, service_id):
    service = catalog.service(service_id)
    assert re.fullmatch(r"05 36 49 \d\d \d\d", service.phone or "")
    assert (service.email or "").endswith("@demo-pau.example")
    assert (service.website or "").startswith("https://www.demo-pau.example/")
    assert service.address.postcode == "64000" and service.address.city == "Pau"
    assert 43.27 < service.lat < 43.34 and -0.41 < service.lon < -0.32
    assert service.accessibility and service.access
    assert service.label.split(" ")[0] in {"la", "le", "l'office"} and service.gender in {"m", "f"}


def test_every_phone_number_in_the_town_data_is_in_a_fiction_range():
    for name in ("services.yml", "procedures.yml", "waste.yml"):
        text = (TOWN / name).read_text(encoding="utf-8")
        for number in re.findall(r"0\d(?: \d\d){4}", text):
            assert number.startswith(("05 36 49", "01 99 00")), f"{name}: {number}"


@pytest.mark.parametrize("procedure_id", PROCEDURE_IDS)
def test_every_procedure_says_where_what_to_bring_and_how_to_book(catalog, procedure_id):
    procedure = catalog.procedure(procedure_id)
    assert procedure.where in catalog.services
    assert procedure.documents and procedure.delay and procedure.cost
    assert procedure.link.startswith(
        ("https://www.service-public.fr/particuliers/vosdroits/", "https://www.demo-pau.example/")
    )
    if procedure.appointment.required:
        assert procedure.appointment.url or procedure.appointment.phone


def test_identity_card_needs_an_appointment_and_birth_certificate_does_not(catalog):
    assert catalog.procedure("carte_identite").appointment.required
    assert not catalog.procedure("acte_naissance").appointment.required


def test_map_link_comes_from_the_coordinates(catalog):
    assert catalog.service("mairie").map_url.startswith("https://www.openstreetmap.org/?mlat=43.29532&mlon=-0.37084")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("pisine", ["piscine"]),
        ("piscine", ["piscine"]),
        ("biblioteque", ["mediatheque"]),
        ("bibliothèque", ["mediatheque"]),
        ("marie", ["mairie"]),
        ("MAIRIE", ["mairie"]),
        ("hôtel de ville", ["mairie"]),
        ("mairie annexe", ["mairie_annexe"]),
        ("etat civl", ["etat_civil"]),
        ("état-civil", ["etat_civil"]),
        ("dechetterie", ["decheterie"]),
        ("office du tourisme", ["office_tourisme"]),
        ("cimetierre", ["cimetiere"]),
        ("c.c.a.s", ["ccas"]),
        ("police municipal", ["police_municipale"]),
        ("services technique", ["services_techniques"]),
        ("sport", ["sports"]),
        ("horaires de la piscine", ["piscine"]),
        ("la poste", []),
        ("préfecture", []),
    ],
)
def test_citizen_names_a_service_with_typos_or_accents(catalog, typed, expected):
    assert [m.id for m in catalog.resolve_service(typed)] == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("carte d'identite", ["carte_identite"]),
        ("CNI", ["carte_identite"]),
        ("pasport", ["passeport"]),
        ("acte de naissance", ["acte_naissance"]),
        ("acte de déces", ["acte_deces"]),
        ("listes electorales", ["inscription_listes_electorales"]),
        ("recensement", ["recensement_citoyen"]),
        ("cantine", ["restauration_scolaire"]),
        ("permis de construire", ["permis_construire"]),
        ("déclarer une naissance", ["declaration_naissance"]),
        ("acte", ["acte_deces", "acte_mariage", "acte_naissance"]),
        ("naissance", ["acte_naissance", "declaration_naissance"]),
        ("carte grise", []),
    ],
)
def test_citizen_names_a_procedure(catalog, typed, expected):
    assert [m.id for m in catalog.resolve_procedure(typed)] == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("rue serviz", ["rue_serviez"]),
        ("12 rue Serviez", ["rue_serviez"]),
        ("bd des pyrenees", ["boulevard_des_pyrenees"]),
        ("Boulevard des Pyrénées", ["boulevard_des_pyrenees"]),
        ("avenue de lons", ["avenue_de_lons"]),
        ("av gal leclerc", ["avenue_du_general_leclerc"]),
        ("joffre", ["rue_du_marechal_joffre"]),
        ("allees de morlaas", ["allees_de_morlaas"]),
        ("rue d'étigny", ["rue_d_etigny"]),
        ("3 bis rue tran", ["rue_tran"]),
        ("rue du marechal", ["rue_du_marechal_foch", "rue_du_marechal_joffre"]),
        ("rue", []),
        ("rue de Rivoli", []),
    ],
)
def test_citizen_types_a_street(catalog, typed, expected):
    assert [m.id for m in catalog.resolve_street(typed)] == expected


def test_matches_carry_scores_best_first(catalog):
    exact, typo = catalog.resolve_service("piscine")[0], catalog.resolve_service("pissinne")[0]
    assert exact.score == 1.0 and 0.75 <= typo.score < 1.0
    assert exact.name == "Piscine municipale Norman-Prince"


def test_lookup_by_unknown_id_fails_loudly(catalog):
    with pytest.raises(KeyError):
        catalog.service("piscine_olympique")


# --- validation: a bad file names the file, the entry and the field ---------------------------------------------


@functools.cache
def _parsed(name: str) -> dict:
    return yaml.load((TOWN / name).read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)


def town_document(name: str) -> dict:
    """A fresh copy of one of the town files, parsed, for a test to break."""
    return copy.deepcopy(_parsed(name))


def write_services(tmp_path: Path, mutate) -> Path:
    document = town_document("services.yml")
    mutate({s["id"]: s for s in document["services"]})
    path = tmp_path / "services.yml"
    path.write_text(yaml.dump(document, Dumper=yaml.CSafeDumper, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda s: s["piscine"]["hours"].update(monday=["08:00-25:00"]),
            "services.yml: piscine: hours.monday[0]: '25:00' is not a time",
        ),
        (
            lambda s: s["piscine"]["hours"].update(monday=["14:00-12:00"]),
            "services.yml: piscine: hours.monday[0]: '14:00-12:00' ends before it starts",
        ),
        (
            lambda s: s["mairie"]["hours"].update(tuesday=["08:00-12:00", "11:00-14:00"]),
            "services.yml: mairie: hours.tuesday: ranges overlap",
        ),
        (lambda s: s["mairie"]["hours"].pop("sunday"), "services.yml: mairie: hours.sunday: missing"),
        (
            lambda s: s["ccas"].pop("phone") and s["ccas"].update(phone="0536491040"),
            "services.yml: ccas: phone: '0536491040' is not a phone number",
        ),
        (
            lambda s: s["ccas"].update(email="ccas-at-demo"),
            "services.yml: ccas: email: 'ccas-at-demo' is not an e-mail address",
        ),
        (lambda s: s["ccas"].update(lat=95), "services.yml: ccas: lat: 95 is outside"),
        (lambda s: s["ccas"].update(gender="x"), "services.yml: ccas: gender: 'x' is not one of m, f"),
        (lambda s: s["ccas"].update(adress="typo"), "services.yml: ccas: adress: unknown field"),
        (
            lambda s: s["ccas"]["address"].update(postcode="640"),
            "services.yml: ccas: address.postcode: '640' is not a French postcode",
        ),
        (lambda s: s["ccas"].pop("name"), "services.yml: ccas: name: missing"),
        (
            lambda s: s["piscine"]["seasons"][0].update(valid_from="2026-13-01"),
            "services.yml: piscine: seasons[0].valid_from: '2026-13-01' is not a date",
        ),
        (
            lambda s: s["piscine"]["seasons"][0]["hours"].update(friday=["10h00-19h7"]),
            "services.yml: piscine: seasons[0].hours.friday[0]: '19h7' is not a time",
        ),
        (lambda s: s["mairie"]["closures"][0].update(reason=""), "services.yml: mairie: closures[0].reason: missing"),
        (
            lambda s: s["mairie"]["closures"][1].update(hours="12:00"),
            "services.yml: mairie: closures[1].hours: '12:00' is not a range",
        ),
        (
            lambda s: s["mairie"].update(website="www.demo-pau.example"),
            "services.yml: mairie: website: 'www.demo-pau.example' is not a web URL",
        ),
    ],
)
def test_a_bad_services_file_names_file_entry_and_field(tmp_path, mutate, message):
    path = write_services(tmp_path, mutate)
    with pytest.raises(CatalogError) as error:
        load_services(path)
    assert str(error.value).startswith(message)


def test_a_duplicate_id_is_refused(tmp_path):
    path = tmp_path / "services.yml"
    document = town_document("services.yml")
    document["services"].append(document["services"][0])
    path.write_text(yaml.dump(document, Dumper=yaml.CSafeDumper, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogError, match="services.yml: mairie: id: duplicate id"):
        load_services(path)


def test_a_yaml_syntax_error_names_the_file(tmp_path):
    path = tmp_path / "services.yml"
    path.write_text("services:\n  - id: mairie\n    name: [unclosed\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"^services.yml: \(file\): \(syntax\)"):
        load_services(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(CatalogError, match=r"^waste.yml: \(file\): \(file\): not found"):
        load_waste(tmp_path / "waste.yml")


def test_a_procedure_must_point_to_a_known_service(tmp_path):
    document = town_document("procedures.yml")
    document["procedures"][0]["where"] = "prefecture"
    path = tmp_path / "procedures.yml"
    path.write_text(yaml.dump(document, Dumper=yaml.CSafeDumper, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogError, match="procedures.yml: carte_identite: where: 'prefecture' is not a service id"):
        load_procedures(path, SERVICE_IDS)


def test_an_appointment_needs_a_way_to_book(tmp_path):
    document = town_document("procedures.yml")
    document["procedures"][1]["appointment"] = {"required": True}
    path = tmp_path / "procedures.yml"
    path.write_text(yaml.dump(document, Dumper=yaml.CSafeDumper, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogError, match="procedures.yml: passeport: appointment.how: missing"):
        load_procedures(path, SERVICE_IDS)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["sectors"][0]["collection"]["recyclables"].update(days=["mardi"]),
            "waste.yml: centre: collection.recyclables.days[0]: 'mardi' is not a weekday",
        ),
        (
            lambda d: d["sectors"][1]["collection"].pop("ordures_menageres"),
            "waste.yml: est: collection.ordures_menageres: missing",
        ),
        (
            lambda d: d["sectors"][1]["streets"].append("Rue Serviez"),
            "waste.yml: est: streets[9]: 'Rue Serviez' is already in sector 'centre'",
        ),
        (
            lambda d: d["holiday_rule"].update(cancelled=["25-12"]),
            "waste.yml: holiday_rule: cancelled[0]: '25-12' is not a month-day",
        ),
        (
            lambda d: d["streams"]["encombrants"].pop("phone") and d["streams"]["encombrants"].pop("url"),
            "waste.yml: encombrants: booking: an on-appointment stream needs",
        ),
    ],
)
def test_a_bad_waste_file_names_file_entry_and_field(tmp_path, mutate, message):
    document = town_document("waste.yml")
    mutate(document)
    path = tmp_path / "waste.yml"
    path.write_text(yaml.dump(document, Dumper=yaml.CSafeDumper, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogError) as error:
        load_waste(path)
    assert str(error.value).startswith(message)
