"""`python -m bot catalog …`: validate, import, export and closures, with exit codes and messages staff can act on;
`python -m bot run` refuses an invalid catalog with the same message."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.runtime.processes import run
from bot.runtime.train import model_path
from bot.settings import ROOT, Settings, get_settings
from bot.town.catalog import load_catalog
from bot.town.catalog.store import store_from_settings

TOWN = ROOT / "data" / "town"


@pytest.fixture()
def var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings pointing at an empty var/ directory (the embedded SQLite database) and the shipped town."""
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TOWN_DATA_DIR", str(TOWN))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()


@pytest.fixture()
def broken_town(tmp_path: Path) -> Path:
    """A copy of the shipped town whose pool opens at 25 o'clock on Mondays."""
    town = tmp_path / "broken"
    shutil.copytree(TOWN, town)
    services = town / "services.yml"
    text = services.read_text(encoding="utf-8")
    start = text.index("  - id: piscine")
    monday = text.index("monday:", start)
    end = text.index("\n", monday)
    services.write_text(text[:monday] + 'monday: ["10:00-25:00"]' + text[end:], encoding="utf-8")
    return town


BROKEN_FIELD = "services.yml: piscine: hours.monday[0]: '25:00' is not a time"


def test_validate_passes_on_the_shipped_files_and_on_the_database(var: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["catalog", "validate", str(TOWN)]) == 0
    assert f"Catalog OK ({TOWN}): 13 services, 12 procedures, 40 streets in 4 waste sectors" in capsys.readouterr().out
    assert main(["catalog", "validate"]) == 0  # the first start seeds the database from TOWN_DATA_DIR
    assert "Catalog OK (database, version 1): 13 services" in capsys.readouterr().out


def test_validate_names_the_file_the_item_and_the_field_of_a_broken_copy(broken_town: Path, var: Path):
    done = subprocess.run(
        [sys.executable, "-m", "bot", "catalog", "validate", str(broken_town)],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == f"Invalid catalog ({broken_town}): {BROKEN_FIELD}"


def test_a_closure_is_added_then_removed_from_the_command_line(var: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["catalog", "closure", "add", "mairie", "--from", "2027-03-11", "--reason", "Inventaire"]) == 0
    assert "closure added: mairie 2027-03-11 → 2027-03-11 (Inventaire); catalog version 2" in capsys.readouterr().out
    _, catalog = store_from_settings().catalog()
    assert any(c.reason == "Inventaire" for c in catalog.service("mairie").closures)

    assert main(["catalog", "closure", "remove", "mairie", "--from", "2027-03-11"]) == 0
    assert "closure removed: mairie 2027-03-11; catalog version 3" in capsys.readouterr().out
    assert store_from_settings().catalog()[1].service("mairie") == load_catalog(TOWN).service("mairie")
    actions = [(c.action, c.actor.startswith("cli:")) for c in store_from_settings().history(2)]
    assert actions == [("closure_remove", True), ("closure_add", True)]


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["add", "mairi", "--from", "2027-03-11", "--reason", "x"], 1, "service inconnu « mairi » (services : mairie,"),
        (["add", "mairie", "--from", "2027-02-30", "--reason", "x"], 2, "--from: '2027-02-30' is not a date"),
        (["add", "mairie", "--from", "2027-03-11", "--to", "11/03", "--reason", "x"], 2, "« 11/03 » n'est pas"),
        (["add", "mairie", "--from", "2027-03-12", "--to", "2027-03-11", "--reason", "x"], 1, "is before --from"),
        (["add", "mairie", "--from", "2026-12-24", "--reason", "x"], 1, "already has a closure from 2026-12-24"),
        (["remove", "mairie", "--from", "2027-03-11"], 1, "mairie n'a pas de fermeture qui commence le 2027-03-11"),
        (["remove", "zoo", "--from", "2027-03-11"], 1, "unknown service 'zoo'"),
    ],
)  # fmt: skip
def test_a_closure_that_cannot_be_made_is_a_clear_error(
    var: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, message: str
):
    assert main(["catalog", "closure", *argv]) == code
    assert message in capsys.readouterr().err
    assert store_from_settings().version() in (0, 1)  # nothing changed


def test_export_then_import_moves_the_catalog_through_yaml(var: Path, tmp_path: Path, capsys):
    out = tmp_path / "exported"
    assert main(["catalog", "export", str(out)]) == 0
    assert "Catalog version 1 exported" in capsys.readouterr().out
    assert load_catalog(out) == load_catalog(TOWN)
    assert main(["catalog", "import", str(out)]) == 0
    assert "version 1 (unchanged)" in capsys.readouterr().out

    services = out / "services.yml"
    services.write_text(services.read_text(encoding="utf-8").replace("05 36 49 10 00", "05 36 49 10 99"))
    assert main(["catalog", "import", str(out)]) == 0
    assert f"Catalog imported from {out}: version 2" in capsys.readouterr().out
    assert store_from_settings().catalog()[1].service("mairie").phone == "05 36 49 10 99"


def test_a_broken_directory_is_not_imported(var: Path, broken_town: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["catalog", "validate"]) == 0
    assert main(["catalog", "import", str(broken_town)]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"Invalid catalog ({broken_town}): {BROKEN_FIELD}"
    assert store_from_settings().version() == 1


def _settings_with_a_model(tmp_path: Path, **overrides: object) -> Settings:
    models = tmp_path / "models"
    models.mkdir()
    model_path(models).write_bytes(b"not started: the catalog is checked first")
    return Settings(_env_file=None, **{"var_dir": tmp_path / "var", "models_dir": models, **overrides})


def test_run_refuses_a_broken_seed_catalog_with_the_validate_message(
    tmp_path: Path, broken_town: Path, capsys: pytest.CaptureFixture[str]
):
    settings = _settings_with_a_model(tmp_path, town_data_dir=broken_town)
    assert run(settings) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"Invalid catalog ({broken_town}): {BROKEN_FIELD}"


def test_run_refuses_a_broken_catalog_in_the_database_with_the_validate_message(
    var: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    store = store_from_settings()
    store.seed(TOWN)
    with store.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE catalog_items SET document = replace(document, '\"lat\": 43.29532', '\"lat\": 143.29532') "
            "WHERE item_id = 'mairie'"
        )
    assert main(["catalog", "validate"]) == 1
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message == "Invalid catalog (database): services.yml: mairie: lat: 143.29532 is outside [-90, 90]"
    assert run(_settings_with_a_model(tmp_path, var_dir=var, town_data_dir=TOWN)) == 2
    assert capsys.readouterr().err.strip() == message
