"""The actions answer from the database's catalog: a closure added from the command line is what the next citizen hears,
and its removal brings the usual hours back, without a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import actions.catalog_access as catalog_access
from actions.services import ActionServiceHours
from actions.tickets_access import TicketsAccess, open_services
from bot.__main__ import main
from bot.db import create_engine_for
from bot.settings import get_settings
from bot.town.catalog.live import LiveCatalog
from bot.town.catalog.store import CatalogStore
from bot.town.tickets import TicketStore
from tests.unit.actions.catalog_turns import TOWN, Said, paris, run

TUESDAY_1120 = paris("2026-03-10 11:20")  # "demain" is Wednesday 11 March 2026


@pytest.fixture()
def live_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The embedded database under a fresh var/, checked on every use, and the actions' shared catalog following it."""
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TOWN_DATA_DIR", str(TOWN))
    monkeypatch.setenv("CATALOG_CHECK_SECONDS", "0")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()
    monkeypatch.setattr(catalog_access, "_shared_catalog", catalog_access.CatalogCache())
    yield
    get_settings.cache_clear()


async def ask_about_tomorrow() -> list[Said]:
    messages, _ = await run(
        ActionServiceHours,
        None,  # type: ignore[arg-type]  # no injected catalog: the process's live one, as on the action server
        TUESDAY_1120,
        "la mairie est ouverte demain ?",
        "ask_opening_hours",
        {"service": "mairie", "date": "demain"},
    )
    return messages


async def test_a_closure_added_from_the_command_line_is_answered_then_its_removal_brings_the_hours_back(
    live_database: None,
):
    usual = await ask_about_tomorrow()
    assert [(m.response, m.pieces.get("day_ranges")) for m in usual] == [
        ("utter_hours_day_open", "de 8h30 à 12h et de 13h30 à 17h")
    ]

    assert main(["catalog", "closure", "add", "mairie", "--from", "2026-03-11", "--reason", "Inventaire"]) == 0
    [closed] = await ask_about_tomorrow()
    assert closed.response == "utter_hours_day_closed_closure_reopens"
    assert closed.pieces["closure_reason"] == "Inventaire"
    assert closed.pieces["next_opening"] == "jeudi à 8h30"

    assert main(["catalog", "closure", "remove", "mairie", "--from", "2026-03-11"]) == 0
    assert await ask_about_tomorrow() == usual


async def test_the_report_and_handoff_actions_catalog_follows_the_database_too(tmp_path: Path):
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    catalog_store = CatalogStore(engine)
    catalog_store.create_schema()
    live = LiveCatalog(catalog_store, TOWN, check_seconds=0)
    access = TicketsAccess(lambda: open_services(TicketStore(engine), live.get), live=lambda: live)
    assert (await access.services()).catalog.service("mairie").phone == "05 36 49 10 00"

    mairie = catalog_store.get_item("service", "mairie") | {"phone": "05 36 49 10 99"}
    catalog_store.put_item("service", "mairie", mairie, "console:bob")
    assert (await access.services()).catalog.service("mairie").phone == "05 36 49 10 99"
