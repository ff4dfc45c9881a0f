"""The login lock-out and the last-admin rule on the real PostgreSQL server, where transactions truly run at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bot.console import accounts, auth
from bot.console.schema import create_console_schema, login_attempts
from tests.integration.console.test_console_postgres import engine as throwaway_engine  # noqa: F401 - fixture
from tests.unit.console.test_console_auth import CountingHasher

pytestmark = pytest.mark.postgres

PASSWORD = "correct horse battery"
T0 = 1_795_000_000.0


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher()
    monkeypatch.setattr(auth, "_hasher", counting)
    monkeypatch.setattr(auth, "_DUMMY_HASH", None)
    return counting


@pytest.fixture
def pg(throwaway_engine: Engine) -> Iterator[Engine]:  # noqa: F811 - the module fixture, renamed
    create_console_schema(throwaway_engine)
    yield throwaway_engine


def at_once(count: int, work) -> list:  # type: ignore[no-untyped-def]
    start = threading.Barrier(count)

    def run(i: int):  # type: ignore[no-untyped-def]
        start.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_concurrent_failures_are_all_counted_on_postgresql(pg: Engine, hasher: CountingHasher) -> None:
    email = accounts.create_staff_user(pg, "parallel@pau.example", "agent", PASSWORD, now=T0).email
    hasher.verified.clear()

    def guess(i: int) -> bool:
        try:
            auth.authenticate(pg, email, f"parallel guess {i}", f"198.51.100.{i}", now=T0)
        except auth.LoginRefused:
            return True
        return False

    assert all(at_once(12, guess))
    assert len(hasher.verified) == auth.FREE_FAILURES
    with pg.connect() as conn:
        recorded = conn.execute(select(func.count()).where(login_attempts.c.email == email)).scalar()
    assert recorded == 12
    with pytest.raises(auth.LoginRefused):
        auth.authenticate(pg, email, PASSWORD, "198.51.100.99", now=T0 + 1)


def test_two_admins_demoting_each_other_at_once_leave_one_admin(pg: Engine, hasher: CountingHasher) -> None:
    first = accounts.create_staff_user(pg, "premiere@pau.example", "admin", PASSWORD, now=T0)
    second = accounts.create_staff_user(pg, "second@pau.example", "admin", PASSWORD, now=T0)
    pairs = [(first, second), (second, first)]

    def demote(i: int) -> bool:
        actor, target = pairs[i]
        try:
            accounts.set_staff_role(pg, target.id, "agent", actor=actor.email, now=T0)
        except auth.AccountError:
            return False
        return True

    assert sorted(at_once(2, demote)) == [False, True]
    assert sum(u.is_admin and u.active for u in accounts.list_staff_users(pg)) == 1
