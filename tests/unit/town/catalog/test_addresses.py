"""`python -m bot import-adresses FILE`: a Base Adresse Nationale CSV file into the `addresses` table, all or nothing,
commune by commune, with French errors that name the line and the column."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.db import create_engine_for
from bot.settings import ROOT, get_settings
from bot.town.catalog.addresses import (
    BAN_COLUMNS,
    SEED_FILE,
    AddressFileError,
    AddressStore,
    address_store_from_settings,
    parse_ban_csv,
    read_ban_file,
)

DEMO = ROOT / "data" / "town" / SEED_FILE
HEADER = ";".join(BAN_COLUMNS)


def line(
    number: int | str,
    street: str,
    lat: float | str,
    lon: float | str,
    *,
    rep: str = "",
    insee: str = "64445",
    commune: str = "Pau",
    ident: str | None = None,
) -> str:
    """One line of a BAN file (the columns the importer ignores filled as the BAN fills them)."""
    fantoir = f"{insee}_{abs(hash(street)) % 9000 + 1000}"
    ident = ident or f"{fantoir}_{str(number).zfill(5)}{'_' + rep if rep else ''}"
    values = {
        "id": ident, "id_fantoir": fantoir, "numero": str(number), "rep": rep, "nom_voie": street,
        "code_postal": "64000", "code_insee": insee, "nom_commune": commune, "x": "426000.00", "y": "6250000.00",
        "lon": str(lon), "lat": str(lat), "type_position": "entrée", "libelle_acheminement": commune.upper(),
        "source_position": "commune", "source_nom_voie": "commune", "certification_commune": "1",
    }  # fmt: skip
    return ";".join(values.get(column, "") for column in BAN_COLUMNS)


def ban_file(tmp_path: Path, *lines: str, name: str = "adresses.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join((HEADER, *lines)) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def store(tmp_path: Path) -> AddressStore:
    addresses = AddressStore(create_engine_for(f"sqlite:///{tmp_path / 'addresses.db'}"))
    addresses.create_schema()
    return addresses


def test_a_good_file_is_imported_with_numbers_repetition_indexes_streets_and_positions(store, tmp_path):
    path = ban_file(
        tmp_path,
        line(40, "Avenue de Lons", 43.30026, -0.37776),
        line(12, "Rue Serviez", 43.29668, -0.36901, rep="bis"),
        line(99999, "Place Royale", 43.2949, -0.3712),  # a named place without a number
    )
    report = store.import_file(path, "cli:anne")
    assert report.count == 3 and report.communes == {"64445": ("Pau", 3)}
    points = {p.label: p for p in store.points()}
    assert set(points) == {"40 Avenue de Lons", "12 bis Rue Serviez", "Place Royale"}
    assert points["12 bis Rue Serviez"].number == 12 and points["12 bis Rue Serviez"].rep == "bis"
    assert points["Place Royale"].number is None
    assert (points["40 Avenue de Lons"].lat, points["40 Avenue de Lons"].lon) == (43.30026, -0.37776)
    assert points["40 Avenue de Lons"].postcode == "64000" and points["40 Avenue de Lons"].insee == "64445"


def test_importing_again_replaces_that_communes_addresses_and_leaves_the_others(store, tmp_path):
    pau = [line(n, "Avenue de Lons", 43.30 + n / 1e5, -0.377) for n in (2, 4, 6)]
    lons = line(1, "Avenue de Pau", 43.31, -0.40, insee="64348", commune="Lons")
    store.import_file(ban_file(tmp_path, *pau, lons), "cli:anne")
    store.import_file(ban_file(tmp_path, *pau, lons), "cli:anne")  # the same file again: nothing doubles
    assert store.count() == 4
    version = store.version()
    # a newer file of Pau only, where number 6 is gone and 8 appeared
    newer = [line(n, "Avenue de Lons", 43.30 + n / 1e5, -0.377) for n in (2, 4, 8)]
    assert store.import_file(ban_file(tmp_path, *newer, name="pau.csv"), "cli:marc").communes == {"64445": ("Pau", 3)}
    assert sorted((p.insee, p.number) for p in store.points()) == [
        ("64348", 1),
        ("64445", 2),
        ("64445", 4),
        ("64445", 8),
    ]
    assert store.version() == version + 1
    latest, before = store.history()[:2]  # who imported which file, and what it held
    assert (latest["actor"], latest["communes"], latest["version"]) == ("cli:marc", "64445 Pau: 3", version + 1)
    assert str(latest["source"]).endswith("pau.csv")
    assert (before["actor"], before["communes"]) == ("cli:anne", "64348 Lons: 1\n64445 Pau: 3")


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        (line("quarante", "Avenue de Lons", 43.3, -0.37), "ligne 3, colonne numero : « quarante » n'est pas un numéro"),
        (line(40, "Avenue de Lons", "43,3x", -0.37), "ligne 3, colonne lat : « 43,3x » n'est pas un nombre décimal"),
        (line(40, "Avenue de Lons", 143.3, -0.37), "ligne 3, colonne lat : 143.3 est hors des limites (±90)"),
        (line(40, "", 43.3, -0.37), "ligne 3, colonne nom_voie : valeur manquante"),
        (line(40, "Avenue de Lons", 43.3, -0.37, insee="644"), "ligne 3, colonne code_insee : « 644 » n'est pas"),
        (line(40, "Avenue de Lons", 43.3, -0.37, rep="b!s"), "ligne 3, colonne rep : « b!s » n'est pas un indice"),
        ("64445_1_00040;64445_1;40", "ligne 3 : 3 colonnes au lieu de 23"),
        (line(2, "Avenue de Lons", 43.3, -0.37), "ligne 3, colonne id : « 64445_"),  # the id of line 2 again
    ],
)
def test_a_bad_line_is_refused_with_its_line_and_column_and_nothing_is_written(store, tmp_path, bad_line, expected):
    store.import_file(ban_file(tmp_path, line(1, "Rue Tran", 43.2985, -0.369)), "cli:anne")
    path = ban_file(tmp_path, line(2, "Avenue de Lons", 43.3, -0.37), bad_line, name="bad.csv")
    with pytest.raises(AddressFileError) as refused:
        store.import_file(path, "cli:anne")
    assert str(refused.value).startswith(expected)
    assert [p.street for p in store.points()] == ["Rue Tran"]  # the earlier import is untouched


def test_a_file_with_another_separator_or_no_address_says_so():
    comma = HEADER.replace(";", ",") + "\n" + line(1, "Rue Tran", 43.2, -0.3).replace(";", ",")
    with pytest.raises(
        AddressFileError, match="ligne 1 : colonnes manquantes .* le séparateur doit être le point-virgule"
    ):
        parse_ban_csv(comma)
    with pytest.raises(AddressFileError, match="ligne 1 : aucune adresse après l'en-tête"):
        parse_ban_csv(HEADER + "\n")
    with pytest.raises(AddressFileError, match="ligne 1 : fichier vide"):
        parse_ban_csv("")


def test_a_file_not_in_utf8_is_refused_with_the_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "\n" + line(1, "Allées de Morlaàs", 43.3, -0.36)).encode("latin-1"))
    with pytest.raises(AddressFileError, match="ligne 2 : le fichier n'est pas encodé en UTF-8"):
        read_ban_file(path)


def test_the_demonstration_file_says_so_and_covers_every_street_of_the_waste_data():
    from bot.town.catalog import load_catalog
    from bot.town.catalog.geocoding import Geocoder

    assert "DONNÉES DE DÉMONSTRATION" in DEMO.read_text(encoding="utf-8").splitlines()[0]
    points = read_ban_file(DEMO)
    assert all(43.29 <= p.lat <= 43.31 and -0.38 <= p.lon <= -0.35 for p in points)
    geocoder = Geocoder(points)
    for street in load_catalog(ROOT / "data" / "town").waste.streets.values():
        found = geocoder.geocode(f"2 {street.name}")
        assert found is not None and found.precision == "housenumber", street.name
        assert geocoder.geocode(f"1 {street.name}") is not None, street.name  # both sides


@pytest.fixture()
def var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()


def test_the_command_prints_the_count_and_a_bad_file_gets_a_french_error(var, tmp_path, capsys):
    good = ban_file(tmp_path, line(40, "Avenue de Lons", 43.30026, -0.37776), line(41, "Avenue de Lons", 43.3, -0.378))
    assert main(["import-adresses", str(good)]) == 0
    out = capsys.readouterr().out
    assert "Pau (64445) : 2 adresses" in out and "2 adresses importées depuis" in out
    assert main(["import-adresses", str(good)]) == 0  # idempotent
    assert address_store_from_settings().count() == 2
    bad = ban_file(tmp_path, line(40, "Avenue de Lons", "nord", -0.37), name="bad.csv")
    assert main(["import-adresses", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "Import refusé, rien n'a été modifié" in err and "ligne 2, colonne lat : « nord » n'est pas un nombre" in err
    assert main(["import-adresses", str(tmp_path / "missing.csv")]) == 1
    assert "fichier illisible" in capsys.readouterr().err
    assert address_store_from_settings().count() == 2


def test_an_empty_table_is_seeded_once_from_the_demonstration_file(store, tmp_path):
    assert store.seed(DEMO) is True
    count = store.count()
    assert count == len(read_ban_file(DEMO))
    assert store.seed(DEMO) is False and store.count() == count
    assert [entry["actor"] for entry in store.history()] == [f"seed:{SEED_FILE}"]
    assert AddressStore(store.engine).seed(tmp_path / "none.csv") is False  # no file: nothing to do
