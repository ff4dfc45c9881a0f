"""A throw-away database on the machine's PostgreSQL server, for the tests marked `postgres`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.db import create_engine_for

SERVER_URL = os.environ.get("GUICHET_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """The URL of a new, empty database named after `prefix`, dropped afterwards (even with connections left)."""
    admin = create_engine_for(SERVER_URL).execution_options(isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
