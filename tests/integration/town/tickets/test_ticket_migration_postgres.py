"""A PostgreSQL database of an older Guichet gets the ticket columns of this one at start-up, even when two
processes start at once, and keeps its tickets."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.town.tickets import TicketDraft, TicketStore, create_schema
from tests.integration.town.tickets.test_tickets_postgres import engine as throwaway_engine  # noqa: F401 - fixture

pytestmark = pytest.mark.postgres

NEW_COLUMNS = ("priority", "external_id", "external_token", "external_status", "external_notes")


def test_an_older_database_is_migrated_by_two_processes_starting_together(throwaway_engine: Engine) -> None:  # noqa: F811
    engine = throwaway_engine
    ref = TicketStore(engine, prefix="MIGR").create_ticket(TicketDraft("voirie", "trou", "Rue Carnot")).ref
    with engine.begin() as conn:  # back to the previous release's table
        conn.exec_driver_sql("ALTER TABLE tickets " + ", ".join(f"DROP COLUMN {c}" for c in NEW_COLUMNS))

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: create_schema(engine), range(2)))

    columns = {c["name"] for c in sa.inspect(engine).get_columns("tickets")}
    assert set(NEW_COLUMNS) <= columns
    old = TicketStore(engine, prefix="MIGR").get_ticket(ref)
    assert old is not None and old.priority == "normal"
    urgent = TicketStore(engine, prefix="MIGR").create_ticket(TicketDraft("voirie", "fuite de gaz", "Rue Carnot"))
    assert urgent.priority == "urgent"
