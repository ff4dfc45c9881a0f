"""The ticket store and outbox on the real PostgreSQL server: a throw-away database per test run."""

from __future__ import annotations

import asyncio
import os
import random
import string
import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from bot.db import create_engine_for
from bot.town.notify import FakeNotifier
from bot.town.tickets import OutboxStore, OutboxWorker, TicketDraft, TicketStore, create_schema

pytestmark = pytest.mark.postgres

SERVER_URL = os.environ.get("GUICHET_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    admin = create_engine_for(SERVER_URL).execution_options(isolation_level="AUTOCOMMIT")
    name = f"guichet_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine_for(make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False))
    try:
        create_schema(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def store(engine: Engine) -> Iterator[TicketStore]:
    # Each test gets its own prefix, so that reference numbering starts afresh in the shared database.
    yield TicketStore(engine, prefix="".join(random.choices(string.ascii_uppercase, k=6)))


def draft(prefix: str, n: int, **values: object) -> TicketDraft:
    base: dict = {
        "service_code": "voirie",
        "description": "Nid-de-poule",
        "address": "Avenue de Lons",
        "lat": 43.3012,
        "long": -0.3935,
        "channel": "telegram",
        "sender_id": f"{prefix}-{n}",
    }
    base.update(values)
    return TicketDraft(**base)  # type: ignore[arg-type]


def run_threads(count: int, target) -> list[BaseException]:  # type: ignore[no-untyped-def]
    errors: list[BaseException] = []

    def guarded(n: int) -> None:
        try:
            target(n)
        except BaseException as error:  # surfaced by the caller
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_schema_creation_is_idempotent_on_postgres(engine: Engine) -> None:
    create_schema(engine)
    with engine.connect() as conn:
        names = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
    assert {"tickets", "ticket_history", "subscriptions", "outbox", "sms_optouts", "ticket_counters"} <= names


def test_concurrent_reports_get_unique_consecutive_references_on_postgres(store: TicketStore) -> None:
    refs: list[str] = []

    def citizen(thread: int) -> None:
        for i in range(25):
            refs.append(
                store.create_ticket(draft(store.prefix, thread, idempotency_key=f"{store.prefix}:{thread}:{i}")).ref
            )

    assert run_threads(8, citizen) == []
    year = refs[0].split("-")[1]
    assert sorted(refs) == [f"{store.prefix}-{year}-{n:06d}" for n in range(1, 201)]


def test_concurrent_retries_of_one_report_create_a_single_ticket_on_postgres(store: TicketStore) -> None:
    refs: list[str] = []
    barrier = threading.Barrier(8)
    key = f"{store.prefix}:same-turn"

    def retry(n: int) -> None:
        barrier.wait()
        refs.append(store.create_ticket(draft(store.prefix, 0, idempotency_key=key)).ref)

    assert run_threads(8, retry) == []
    assert len(set(refs)) == 1 and len(refs) == 8


def test_lifecycle_followers_and_views_on_postgres(store: TicketStore, engine: Engine) -> None:
    ticket = store.create_ticket(draft(store.prefix, 1, contact="05 36 49 00 21", lat=43.2700, long=-0.3500))
    assert [c.ticket.ref for c in store.find_duplicates("voirie", lat=43.2701, long=-0.3500)] == [ticket.ref]
    store.follow(ticket.ref, "sms", f"{store.prefix}-sms")
    store.set_status(ticket.ref, "non_retenu", None, "agent:paul", reason="Voie privée")

    assert [h.state for h in store.history(ticket.ref)] == ["nouveau", "non_retenu"]
    assert store.status_for(ticket.ref, "sms", f"{store.prefix}-sms").full  # type: ignore[union-attr]
    assert not store.status_for(ticket.ref, "sms", "someone-else").full  # type: ignore[union-attr]
    jobs = [j for j in OutboxStore(engine).jobs(kind="ticket_update") if j.payload["ticket_ref"] == ticket.ref]
    assert {(j.channel, j.payload["status_note"]) for j in jobs} == {
        ("telegram", "Voie privée"),
        ("sms", "Voie privée"),
    }


@pytest.mark.asyncio
async def test_parallel_workers_send_each_notification_once_on_postgres(store: TicketStore, engine: Engine) -> None:
    for n in range(12):
        ticket = store.create_ticket(draft(store.prefix, n))
        store.set_status(ticket.ref, "pris_en_charge", "En cours", "agent")
    notifier = FakeNotifier()
    outbox = OutboxStore(engine)
    workers = [OutboxWorker(outbox, notifier, batch_size=5) for _ in range(4)]

    for _ in range(4):
        await asyncio.gather(*(w.run_once() for w in workers))

    mine = [j for j in notifier.sent if j.payload["ticket_ref"].startswith(store.prefix)]
    assert len(mine) == 12 == len({j.id for j in mine})
