"""Database engines shared by the ticket store and the console: SQLite by default, PostgreSQL in production."""

from __future__ import annotations

import logging
import os
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import MetaData, Table, event, exc, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, create_engine, make_url
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_TIMEOUT_MS = 30_000
CREATE_ATTEMPTS = 5

logger = logging.getLogger(__name__)


def create_tables(metadata: MetaData, engine: Engine) -> None:
    """Create the tables of `metadata` that do not exist yet, even while another process creates them too.

    Two servers starting together on an empty PostgreSQL database both see a table missing and both create it;
    the second gets "relation already exists" (or a duplicate key in pg_type). Checking again then finds it.
    """
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            metadata.create_all(engine, checkfirst=True)
            return
        except (exc.ProgrammingError, exc.IntegrityError, exc.OperationalError) as error:
            if attempt == CREATE_ATTEMPTS:
                raise
            logger.info("Tables created concurrently by another process (%s); checking again", type(error).__name__)
            time.sleep(0.05 * attempt)


def add_missing_columns(table: Table, engine: Engine) -> list[str]:
    """Add to an existing table the columns of `table` it lacks (a database made by an older Guichet).

    Only columns that may be added to rows already there: nullable, or with a server default. Two processes
    migrating at once both try; the loser's "duplicate column" is checked again and ignored. Returns the names added.
    """
    added: list[str] = []
    with engine.connect() as conn:
        inspector = inspect(conn)
        if not inspector.has_table(table.name):
            return added
        present = {column["name"] for column in inspector.get_columns(table.name)}
    for column in table.columns:
        if column.name in present:
            continue
        if not column.nullable and column.server_default is None:
            raise RuntimeError(f"column {table.name}.{column.name} cannot be added to existing rows")
        kind = column.type.compile(dialect=engine.dialect)
        default = "" if column.server_default is None else f" DEFAULT {_sql_default(column.server_default)}"
        statement = f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}{default}'
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(statement)
        except (exc.ProgrammingError, exc.OperationalError):
            with engine.connect() as conn:
                if column.name not in {c["name"] for c in inspect(conn).get_columns(table.name)}:
                    raise
            continue
        logger.info("Added column %s.%s", table.name, column.name)
        added.append(column.name)
    return added


def _sql_default(server_default: Any) -> str:
    """A server default as SQL: a string default quoted, a `text()` one as written."""
    arg = server_default.arg
    return "'" + arg.replace("'", "''") + "'" if isinstance(arg, str) else str(arg)


def create_engine_for(url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    """A 2.0-style engine for `url`: SQLite in WAL mode with a busy timeout, or pooled PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return _fork_safe(create_engine(url, future=True, pool_pre_ping=True))

    in_memory = parsed.database in (None, "", ":memory:")
    engine = create_engine(
        url,
        future=True,
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        # One shared connection, or every checkout would see its own empty in-memory database.
        poolclass=StaticPool if in_memory else None,
    )
    _configure_sqlite(engine, busy_timeout_ms, wal=not in_memory)
    return engine if in_memory else _fork_safe(engine)


def _fork_safe(engine: Engine) -> Engine:
    """Make a forked child (a Sanic worker, RASA_WORKERS > 1) open its own connections, never its parent's."""
    ref = weakref.ref(engine)

    def _after_fork_in_child() -> None:
        alive = ref()
        if alive is not None:
            alive.dispose(close=False)  # drop the inherited pool without closing the parent's connections

    os.register_at_fork(after_in_child=_after_fork_in_child)
    return engine


def apply_sqlite_pragmas(dbapi_connection: Any, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS, *, wal: bool) -> None:
    """Guichet's settings for a new SQLite connection: write-ahead log (readers never wait for the writer, a commit
    appends to the log), a busy timeout instead of an immediate "database is locked", foreign keys enforced."""
    cursor = dbapi_connection.cursor()
    if wal:
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _configure_sqlite(engine: Engine, busy_timeout_ms: int, *, wal: bool) -> None:
    """Take transaction control away from pysqlite so BEGIN IMMEDIATE is possible."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # pysqlite's implicit BEGIN breaks SAVEPOINT and IMMEDIATE; we emit BEGIN ourselves below.
        dbapi_connection.isolation_level = None
        apply_sqlite_pragmas(dbapi_connection, busy_timeout_ms, wal=wal)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: BEGIN IMMEDIATE on SQLite (one writer at a time), plain BEGIN elsewhere."""
    with engine.connect() as connection:
        connection.execution_options(sqlite_begin="IMMEDIATE")
        with connection.begin():
            yield connection


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-only unit of work (a deferred transaction, so readers never wait for writers in WAL mode)."""
    with engine.connect() as connection:
        with connection.begin():
            yield connection


def insert_ignoring_conflict(
    connection: Connection, table: Table, values: dict[str, Any], conflict_columns: list[str]
) -> bool:
    """INSERT a row unless one with the same `conflict_columns` exists; True if it was inserted."""
    backend = connection.dialect.name
    if backend == "postgresql":
        statement = postgresql.insert(table).values(**values).on_conflict_do_nothing(index_elements=conflict_columns)
    elif backend == "sqlite":
        statement = sqlite.insert(table).values(**values).on_conflict_do_nothing(index_elements=conflict_columns)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"unsupported database backend {backend!r}")
    return connection.execute(statement).rowcount == 1
