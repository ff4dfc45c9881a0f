"""Staff accounts: argon2 hashes, per-account lock-out with backoff, session expiry, CSRF tokens, audit."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bot.console import accounts, auth
from bot.console.schema import audit_log, create_console_schema, login_attempts, staff_sessions
from bot.db import create_engine_for

PASSWORD = "correct horse battery"
T0 = 1_795_000_000.0


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters: the tests check behaviour, not the cost of an attack."""
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setattr(auth, "_DUMMY_HASH", None)


@pytest.fixture
def engine():
    engine = create_engine_for("sqlite://")
    create_console_schema(engine)
    create_console_schema(engine)  # idempotent
    return engine


@pytest.fixture
def agent(engine) -> auth.StaffUser:
    return accounts.create_staff_user(engine, " Agent@Pau.example ", "agent", PASSWORD, now=T0)


def audit_actions(engine) -> list[str]:
    with engine.connect() as conn:
        return [row.action for row in conn.execute(select(audit_log).order_by(audit_log.c.id))]


def test_password_is_stored_as_an_argon2_hash_never_in_clear() -> None:
    stored = auth.hash_password(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert auth.verify_password(stored, PASSWORD)
    assert not auth.verify_password(stored, PASSWORD + "!")
    assert not auth.verify_password("not a hash", PASSWORD)


@pytest.mark.parametrize(
    ("email", "role", "password", "problem"),
    [
        ("chef@pau.example", "boss", PASSWORD, "role"),
        ("chef@pau.example", "admin", "short", "password"),
        ("pas-une-adresse", "admin", PASSWORD, "e-mail"),
    ],
)
def test_invalid_accounts_are_refused(engine, email: str, role: str, password: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        accounts.create_staff_user(engine, email, role, password)


def test_an_email_gets_one_account_whatever_its_case(engine, agent) -> None:
    assert agent.email == "agent@pau.example"
    with pytest.raises(ValueError, match="already exists"):
        accounts.create_staff_user(engine, "AGENT@pau.example", "admin", PASSWORD)


def test_staff_member_logs_in_with_email_in_any_case(engine, agent) -> None:
    user = auth.authenticate(engine, "AGENT@PAU.EXAMPLE", PASSWORD, "10.0.0.1", now=T0)
    assert user.id == agent.id and user.role == "agent" and not user.is_admin
    assert audit_actions(engine)[-1] == "login"


@pytest.mark.parametrize(
    ("email", "password"),
    [("agent@pau.example", "wrong password!"), ("nobody@pau.example", PASSWORD), ("", "")],
)
def test_wrong_credentials_are_refused_the_same_way(engine, agent, email: str, password: str) -> None:
    with pytest.raises(auth.LoginRefused):
        auth.authenticate(engine, email, password, "10.0.0.1", now=T0)
    assert audit_actions(engine)[-1] == "login_failed"


def refused(engine, email: str, password: str, ip: str = "10.0.0.1", *, now: float) -> bool:
    """Whether this login attempt is refused."""
    try:
        auth.authenticate(engine, email, password, ip, now=now)
    except auth.LoginRefused:
        return True
    return False


class CountingHasher(PasswordHasher):
    """Cheap argon2 that counts its verifications, and which hash each one was against."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified: list[str] = []
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:  # noqa: A002 - argon2's name
        with self._lock:
            self.verified.append(hash if isinstance(hash, str) else hash.decode())
        return super().verify(hash, password)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher()
    monkeypatch.setattr(auth, "_hasher", counting)
    return counting


def test_lock_grows_after_each_failure_beyond_the_free_ones() -> None:
    assert [auth.lock_seconds(n) for n in range(1, 14)] == [0] * 4 + [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert auth.lock_seconds(10_000) == auth.MAX_LOCK_SECONDS


def test_account_is_locked_after_five_failures_then_longer_after_each_new_one(engine, agent) -> None:
    for i in range(auth.FREE_FAILURES):
        assert refused(engine, agent.email, f"guess number {i}", f"10.0.0.{i}", now=T0 + i)
    last = T0 + auth.FREE_FAILURES - 1
    assert refused(engine, agent.email, PASSWORD, "10.9.9.9", now=last + 59)  # even the right one, from elsewhere
    assert refused(engine, agent.email, "one more guess", now=last + 61)  # the lock is over: one guess, wrong...
    assert refused(engine, agent.email, PASSWORD, now=last + 61 + 119)  # ...locks twice as long
    assert auth.authenticate(engine, agent.email, PASSWORD, "10.9.9.9", now=last + 61 + 121).id == agent.id


def test_a_success_resets_the_failure_count(engine, agent) -> None:
    for i in range(auth.FREE_FAILURES - 1):
        assert refused(engine, agent.email, "nope nope nope", now=T0 + i)
    auth.authenticate(engine, agent.email, PASSWORD, "10.0.0.1", now=T0 + 10)
    for i in range(auth.FREE_FAILURES - 1):
        assert refused(engine, agent.email, "nope nope nope", now=T0 + 11 + i)
    assert auth.authenticate(engine, agent.email, PASSWORD, "10.0.0.1", now=T0 + 20)


def test_failures_are_forgotten_after_a_quiet_day(engine, agent) -> None:
    for i in range(auth.FREE_FAILURES + 2):
        assert refused(engine, agent.email, "nope nope nope", now=T0 + i * 3600)
    later = T0 + (auth.FREE_FAILURES + 1) * 3600 + auth.FAILURE_MEMORY_SECONDS + 1
    assert refused(engine, agent.email, "nope nope nope", now=later)  # counted as a first failure: no lock
    assert auth.authenticate(engine, agent.email, PASSWORD, "10.0.0.1", now=later + 1).id == agent.id


def test_twenty_failures_for_one_account_from_the_proxy_address_do_not_lock_out_another(engine, agent) -> None:
    admin = accounts.create_staff_user(engine, "admin@pau.example", "admin", PASSWORD, now=T0)
    proxy = "127.0.0.1"  # behind the town's proxy without PROXIES_COUNT, every login comes from its address
    for i in range(20):
        assert refused(engine, agent.email, f"guess number {i}", proxy, now=T0 + i)
    assert auth.authenticate(engine, admin.email, PASSWORD, proxy, now=T0 + 20).id == admin.id
    assert refused(engine, agent.email, PASSWORD, proxy, now=T0 + 21)  # the guessed account, itself, is locked


@pytest.mark.parametrize("email", ["agent@pau.example", "nobody@pau.example"])
def test_a_locked_address_costs_no_argon2_verification(engine, agent, hasher: CountingHasher, email: str) -> None:
    for i in range(auth.FREE_FAILURES):
        assert refused(engine, email, f"guess number {i}", now=T0 + i)
    assert len(hasher.verified) == auth.FREE_FAILURES
    for i in range(30):
        assert refused(engine, email, PASSWORD if i % 2 else "another guess", now=T0 + 10 + i)
    assert len(hasher.verified) == auth.FREE_FAILURES  # locked: refused before any hashing
    with engine.connect() as conn:
        recorded = conn.execute(select(login_attempts.c.succeeded).where(login_attempts.c.email == email)).all()
    assert len(recorded) == auth.FREE_FAILURES + 30 and not any(row.succeeded for row in recorded)


def test_unknown_and_known_accounts_take_the_same_path(engine, agent, hasher: CountingHasher) -> None:
    def journey(email: str) -> list[tuple[int, bool, str, str | None]]:
        steps = []
        for i in range(auth.FREE_FAILURES + 3):
            before = len(hasher.verified)
            outcome = refused(engine, email, "wrong guess!", now=T0 + i)
            with engine.connect() as conn:
                entry = conn.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(1)).one()
            steps.append((len(hasher.verified) - before, outcome, entry.action, entry.detail))
        return steps

    known, unknown = journey(agent.email), journey("nobody@pau.example")
    assert known == unknown
    assert [verifications for verifications, *_ in known] == [1] * auth.FREE_FAILURES + [0] * 3
    dummy = auth._dummy_hash()
    assert hasher.verified.count(dummy) == auth.FREE_FAILURES  # exactly one dummy verification per unknown attempt


def test_concurrent_failures_are_all_counted(tmp_path, agent_on_file, hasher: CountingHasher) -> None:
    engine, email = agent_on_file
    attempts, start = 12, threading.Barrier(12)

    def guess(i: int) -> bool:
        start.wait()
        return refused(engine, email, f"parallel guess {i}", f"198.51.100.{i}", now=T0)

    with ThreadPoolExecutor(max_workers=attempts) as pool:
        assert all(pool.map(guess, range(attempts)))
    assert len(hasher.verified) == auth.FREE_FAILURES  # no guess slipped through between counting and verifying
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(login_attempts)).scalar() == attempts
    assert refused(engine, email, PASSWORD, now=T0 + 1)


@pytest.fixture
def agent_on_file(tmp_path) -> tuple[Engine, str]:
    """An account in a SQLite file (threads need their own connections; an in-memory database has one)."""
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    create_console_schema(engine)
    return engine, accounts.create_staff_user(engine, "agent@pau.example", "agent", PASSWORD, now=T0).email


def test_disabled_account_cannot_log_in_and_loses_its_sessions(engine, agent) -> None:
    token = auth.open_session(engine, agent, now=T0)
    accounts.set_staff_active(engine, agent.id, False, actor="admin@pau.example", now=T0 + 1)
    assert auth.resolve_session(engine, token, idle_minutes=60, now=T0 + 2) is None
    with pytest.raises(auth.LoginRefused):
        auth.authenticate(engine, agent.email, PASSWORD, "10.0.0.1", now=T0 + 3)
    assert "account_disable" in audit_actions(engine)


def test_session_token_is_stored_only_as_a_hash(engine, agent) -> None:
    token = auth.open_session(engine, agent, now=T0)
    with engine.connect() as conn:
        stored = conn.execute(select(staff_sessions.c.token_hash)).scalar()
    assert token not in stored and len(stored) == 64


@pytest.mark.parametrize(
    ("elapsed_minutes", "alive"),
    [(5, True), (59, True), (61, False)],
)
def test_session_expires_after_idle_minutes(engine, agent, elapsed_minutes: int, alive: bool) -> None:
    token = auth.open_session(engine, agent, now=T0)
    session = auth.resolve_session(engine, token, idle_minutes=60, now=T0 + elapsed_minutes * 60)
    assert (session is not None) is alive


def test_session_in_use_still_ends_after_twelve_hours(engine, agent) -> None:
    token = auth.open_session(engine, agent, now=T0)
    for minute in range(30, 12 * 60, 30):  # used every half hour
        assert auth.resolve_session(engine, token, idle_minutes=60, now=T0 + minute * 60) is not None
    assert auth.resolve_session(engine, token, idle_minutes=60, now=T0 + 12 * 3600 + 60) is None


def test_logout_ends_the_session(engine, agent) -> None:
    token = auth.open_session(engine, agent, now=T0)
    auth.close_session(engine, token, actor=agent.email, now=T0 + 1)
    assert auth.resolve_session(engine, token, idle_minutes=60, now=T0 + 2) is None
    assert audit_actions(engine)[-1] == "logout"


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_unknown_session_tokens_give_no_session(engine, token) -> None:
    assert auth.resolve_session(engine, token, idle_minutes=60, now=T0) is None


def test_each_session_has_its_own_csrf_token(engine, agent) -> None:
    first = auth.resolve_session(engine, auth.open_session(engine, agent, now=T0), idle_minutes=60, now=T0)
    second = auth.resolve_session(engine, auth.open_session(engine, agent, now=T0), idle_minutes=60, now=T0)
    assert first and second and first.csrf_token != second.csrf_token
    assert auth.csrf_matches(first.csrf_token, first.csrf_token)
    assert not auth.csrf_matches(first.csrf_token, second.csrf_token)
    assert not auth.csrf_matches(first.csrf_token, None)
    assert not auth.csrf_matches(None, "")


def test_cli_creates_the_first_account_on_a_fresh_database(tmp_path) -> None:
    fresh = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    user = accounts.create_staff_user(fresh, "maire@pau.example", "admin", PASSWORD)
    assert user.is_admin and [u.email for u in accounts.list_staff_users(fresh)] == ["maire@pau.example"]
    assert audit_actions(fresh) == ["account_create"]
