"""The command line does what the README says: staff accounts, ticket status changes, directory import."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.__main__ import main
from bot.db import create_engine_for
from bot.settings import ROOT, get_settings
from bot.town.tickets import OutboxStore, TicketDraft, create_schema, store_from_settings


@pytest.fixture()
def var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings pointing at an empty var/ directory (the embedded SQLite database)."""
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()


def test_a_staff_account_is_created_with_the_password_from_stdin(
    var: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("un-mot-de-passe-solide\n"))
    assert main(["create-staff-user", "agent@demo-pau.example", "--role", "agent", "--password-stdin"]) == 0
    assert "agent@demo-pau.example (agent) created" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("un-autre-mot-de-passe\n"))
    assert main(["create-staff-user", "agent@demo-pau.example", "--role", "agent", "--password-stdin"]) == 2


def test_a_weak_password_is_refused(var: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("court\n"))
    assert main(["create-staff-user", "admin@demo-pau.example", "--role", "admin", "--password-stdin"]) == 2


def test_a_status_change_notifies_the_citizen_through_the_outbox(var: Path, capsys: pytest.CaptureFixture[str]) -> None:
    var.mkdir(parents=True)
    store = store_from_settings(get_settings())
    create_schema(store.engine)
    ticket = store.create_ticket(
        TicketDraft("voirie", "Nid-de-poule", address="12 rue Serviez", channel="telegram", sender_id="telegram:42")
    )
    assert main(["ticket", "set-status", ticket.ref.lower().replace("-", " "), "traite", "--note", "Réparé"]) == 0
    assert f"{ticket.ref}: traite (closed)" in capsys.readouterr().out
    jobs = OutboxStore(store.engine).jobs(kind="ticket_update")
    assert [(j.channel, j.recipient, j.payload["ticket_state"]) for j in jobs] == [
        ("telegram", "telegram:42", "traite")
    ]


def test_an_unknown_ticket_or_state_is_a_clear_error(var: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ticket", "set-status", "PAU-2026-999999", "traite"]) == 1
    assert "No ticket PAU-2026-999999" in capsys.readouterr().err
    assert main(["ticket", "set-status", "PAU-2026-000001", "fini"]) == 2


def test_the_directory_export_becomes_catalog_entries(var: Path, tmp_path: Path) -> None:
    out = tmp_path / "services.yml"
    export = ROOT / "tests" / "data" / "annuaire" / "export_pau.json"
    assert main(["import-annuaire", str(export), "--out", str(out)]) == 0
    services = yaml.safe_load(out.read_text(encoding="utf-8"))["services"]
    assert len(services) >= 5
    assert all(s["phone"] and s["hours"] for s in services)


def test_the_directory_export_becomes_a_draft_and_changes_nothing_live(
    var: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.town.catalog.drafts import DraftStore
    from bot.town.catalog.store import store_from_settings

    export = ROOT / "tests" / "data" / "annuaire" / "export_pau.json"
    assert main(["import-annuaire", str(export)]) == 0
    printed = capsys.readouterr().out
    assert "kept as a draft" in printed and "/catalog" in printed and "skipped record 6" in printed
    store = store_from_settings(get_settings())
    drafts = DraftStore(store)
    assert store.history(limit=5)[0].action == "seed"  # seeded, and nothing merged
    assert {d.service_id for d in drafts.pending()} >= {"mairie", "ccas"}
    store.engine.dispose()


def test_corrections_are_exported_even_when_there_are_none(var: Path, tmp_path: Path) -> None:
    out = tmp_path / "corrections.yml"
    assert main(["export-corrections", "--out", str(out)]) == 0
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["version"] == "3.1"
    create_engine_for(get_settings().effective_database_url).dispose()
