"""Several servers starting together on an empty PostgreSQL database all get their tables (no "already exists")."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine, make_url

from bot.console.schema import create_console_schema
from bot.db import create_engine_for
from bot.town.handoff import create_handoff_schema
from bot.town.tickets import create_schema
from bot.town.tickets.drafts import create_drafts_schema
from connectors.shared.tables import create_channel_tables

pytestmark = pytest.mark.postgres

SERVER_URL = os.environ.get("GUICHET_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
CREATORS: tuple[Callable[[Engine], None], ...] = (
    create_schema, create_channel_tables, create_console_schema, create_drafts_schema, create_handoff_schema,
)  # fmt: skip
SERVERS = 6


@pytest.fixture
def empty_database() -> Iterator[str]:
    admin = create_engine_for(SERVER_URL).execution_options(isolation_level="AUTOCOMMIT")
    name = f"guichet_race_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_servers_starting_at_once_all_create_or_find_every_table(empty_database: str) -> None:
    start = threading.Barrier(SERVERS)
    failures: list[BaseException] = []

    def server() -> None:
        engine = create_engine_for(empty_database)
        try:
            start.wait()
            for create in CREATORS:
                create(engine)
        except BaseException as error:  # noqa: BLE001 - every failure is reported by the assertion below
            failures.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=server) for _ in range(SERVERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    engine = create_engine_for(empty_database)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"tickets", "outbox", "subscriptions", "sms_identities", "staff_users", "handoff_requests"} <= tables
