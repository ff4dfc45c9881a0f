"""Staff accounts: argon2 hashes, lock-out after repeated failures, session expiry, CSRF tokens, audit."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from bot.console import auth
from bot.console.schema import audit_log, create_console_schema, staff_sessions
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
    return auth.create_staff_user(engine, " Agent@Pau.example ", "agent", PASSWORD, now=T0)


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
        auth.create_staff_user(engine, email, role, password)


def test_an_email_gets_one_account_whatever_its_case(engine, agent) -> None:
    assert agent.email == "agent@pau.example"
    with pytest.raises(ValueError, match="already exists"):
        auth.create_staff_user(engine, "AGENT@pau.example", "admin", PASSWORD)


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


def test_account_is_locked_after_five_failures_within_fifteen_minutes(engine, agent) -> None:
    for i in range(auth.MAX_FAILURES_PER_ACCOUNT):
        with pytest.raises(auth.LoginRefused):
            auth.authenticate(engine, agent.email, f"guess number {i}", f"10.0.0.{i}", now=T0 + i)
    with pytest.raises(auth.LoginRefused):  # even the right password, from yet another address
        auth.authenticate(engine, agent.email, PASSWORD, "10.9.9.9", now=T0 + 60)
    later = T0 + auth.LOCKOUT_WINDOW_SECONDS + 10
    assert auth.authenticate(engine, agent.email, PASSWORD, "10.9.9.9", now=later).id == agent.id


def test_a_success_resets_the_failure_count(engine, agent) -> None:
    for i in range(auth.MAX_FAILURES_PER_ACCOUNT - 1):
        with pytest.raises(auth.LoginRefused):
            auth.authenticate(engine, agent.email, "nope nope nope", "10.0.0.1", now=T0 + i)
    auth.authenticate(engine, agent.email, PASSWORD, "10.0.0.1", now=T0 + 10)
    with pytest.raises(auth.LoginRefused):
        auth.authenticate(engine, agent.email, "nope nope nope", "10.0.0.1", now=T0 + 11)
    assert auth.authenticate(engine, agent.email, PASSWORD, "10.0.0.1", now=T0 + 12)


def test_one_address_guessing_many_accounts_is_stopped(engine, agent) -> None:
    for i in range(auth.MAX_FAILURES_PER_IP):
        with pytest.raises(auth.LoginRefused):
            auth.authenticate(engine, f"user{i}@pau.example", "whatever it is", "203.0.113.7", now=T0 + i)
    with pytest.raises(auth.LoginRefused):
        auth.authenticate(engine, agent.email, PASSWORD, "203.0.113.7", now=T0 + 100)
    assert auth.authenticate(engine, agent.email, PASSWORD, "198.51.100.1", now=T0 + 100)


def test_disabled_account_cannot_log_in_and_loses_its_sessions(engine, agent) -> None:
    token = auth.open_session(engine, agent, now=T0)
    auth.set_staff_active(engine, agent.id, False, actor="admin@pau.example", now=T0 + 1)
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
    user = auth.create_staff_user(fresh, "maire@pau.example", "admin", PASSWORD)
    assert user.is_admin and [u.email for u in auth.list_staff_users(fresh)] == ["maire@pau.example"]
    assert audit_actions(fresh) == ["account_create"]
