"""Staff account changes: own password change, admin reset with a temporary password, role change; all audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.console import accounts, auth
from bot.console.schema import audit_log, create_console_schema
from bot.db import create_engine_for

PASSWORD, NEW_PASSWORD = "correct horse battery", "une autre phrase de passe"
T0 = 1_795_000_000.0


@pytest.fixture
def engine():
    engine = create_engine_for("sqlite://")
    create_console_schema(engine)
    return engine


@pytest.fixture
def agent(engine) -> auth.StaffUser:
    return accounts.create_staff_user(engine, "agent@pau.example", "agent", PASSWORD, now=T0)


@pytest.fixture
def admin(engine) -> auth.StaffUser:
    return accounts.create_staff_user(engine, "admin@pau.example", "admin", PASSWORD, now=T0)


def audit_entries(engine) -> list[tuple[str, str, str | None, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.id)).all()
    return [(r.actor, r.action, r.target, r.detail) for r in rows]


def logs_in(engine, email: str, password: str, *, now: float) -> auth.StaffUser | None:
    try:
        return auth.authenticate(engine, email, password, "10.0.0.1", now=now)
    except auth.LoginRefused:
        return None


# --- own password -------------------------------------------------------------------------------------------


def test_staff_member_changes_their_password_and_their_other_sessions_end(engine, agent) -> None:
    here, elsewhere = auth.open_session(engine, agent, now=T0), auth.open_session(engine, agent, now=T0)
    auth.change_password(engine, agent, PASSWORD, NEW_PASSWORD, keep_token=here, ip="10.0.0.1", now=T0 + 1)
    assert auth.resolve_session(engine, here, idle_minutes=60, now=T0 + 2) is not None
    assert auth.resolve_session(engine, elsewhere, idle_minutes=60, now=T0 + 2) is None
    assert logs_in(engine, agent.email, PASSWORD, now=T0 + 3) is None
    assert logs_in(engine, agent.email, NEW_PASSWORD, now=T0 + 4) is not None
    assert ("agent@pau.example", "password_change", "agent@pau.example", None) in audit_entries(engine)
    assert not any(NEW_PASSWORD in str(entry) or PASSWORD in str(entry) for entry in audit_entries(engine))


@pytest.mark.parametrize(
    ("current", "new", "french"),
    [
        ("not my password!", NEW_PASSWORD, "Le mot de passe actuel est incorrect."),
        (PASSWORD, "court", "au moins 12 caractères"),
        (PASSWORD, "aaaaaaaaaaaaaaaaaaaa", "trop peu de caractères différents"),
        (PASSWORD, "Agent-2026-mairie", "ne doit pas contenir l'adresse e-mail"),
        (PASSWORD, PASSWORD, "doit différer de l'actuel"),
        (PASSWORD, "x" * 1024 + "abcdef", "ne peut pas dépasser 1024 caractères"),
    ],
)
def test_password_change_is_refused_with_a_reason(engine, agent, current: str, new: str, french: str) -> None:
    token = auth.open_session(engine, agent, now=T0)
    with pytest.raises(auth.AccountError) as refused:
        auth.change_password(engine, agent, current, new, keep_token=token, ip="10.0.0.1", now=T0 + 1)
    assert french in refused.value.french
    assert logs_in(engine, agent.email, PASSWORD, now=T0 + 2) is not None  # unchanged


def test_guessing_the_current_password_is_locked_out_like_a_login(engine, agent) -> None:
    token = auth.open_session(engine, agent, now=T0)
    for i in range(auth.FREE_FAILURES):
        with pytest.raises(auth.AccountError, match="current password is wrong"):
            auth.change_password(engine, agent, f"guess {i} guess", NEW_PASSWORD, keep_token=token, ip="x", now=T0 + i)
    with pytest.raises(auth.AccountError, match="too many failed attempts"):
        auth.change_password(engine, agent, PASSWORD, NEW_PASSWORD, keep_token=token, ip="x", now=T0 + 10)
    actions = [action for _, action, _, _ in audit_entries(engine)]
    assert actions.count("password_change_failed") == auth.FREE_FAILURES + 1


# --- admin reset ----------------------------------------------------------------------------------------------


def test_admin_reset_gives_a_one_time_temporary_password_that_must_be_changed(engine, agent, admin) -> None:
    session = auth.open_session(engine, agent, now=T0)
    email, temporary = accounts.reset_staff_password(engine, agent.id, actor=admin.email, now=T0 + 1)
    assert email == agent.email and len(temporary) == 19 and temporary.count("-") == 3
    assert auth.resolve_session(engine, session, idle_minutes=60, now=T0 + 2) is None  # its sessions ended
    assert logs_in(engine, agent.email, PASSWORD, now=T0 + 3) is None  # the old password is gone
    user = logs_in(engine, agent.email, temporary, now=T0 + 4)
    assert user is not None and user.must_change_password
    assert logs_in(engine, agent.email, temporary, now=T0 + 5) is None  # one session only
    token = auth.open_session(engine, user, now=T0 + 4)
    assert auth.resolve_session(engine, token, idle_minutes=60, now=T0 + 6).user.must_change_password  # type: ignore[union-attr]
    auth.change_password(engine, user, temporary, NEW_PASSWORD, keep_token=token, ip="x", now=T0 + 7)
    assert not auth.resolve_session(engine, token, idle_minutes=60, now=T0 + 8).user.must_change_password  # type: ignore[union-attr]
    assert logs_in(engine, agent.email, NEW_PASSWORD, now=T0 + 9) is not None
    assert (admin.email, "password_reset", agent.email, None) in audit_entries(engine)
    assert not any(temporary in str(entry) for entry in audit_entries(engine))


def test_temporary_password_expires_after_a_day(engine, agent, admin) -> None:
    _, temporary = accounts.reset_staff_password(engine, agent.id, actor=admin.email, now=T0)
    assert logs_in(engine, agent.email, temporary, now=T0 + auth.TEMPORARY_PASSWORD_SECONDS + 1) is None


def test_reset_lifts_a_lock_out(engine, agent, admin) -> None:
    for i in range(auth.FREE_FAILURES):
        logs_in(engine, agent.email, f"attacker guess {i}", now=T0 + i)
    _, temporary = accounts.reset_staff_password(engine, agent.id, actor=admin.email, now=T0 + 10)
    assert logs_in(engine, agent.email, temporary, now=T0 + 11) is not None


def test_temporary_passwords_are_random_and_readable() -> None:
    drawn = {accounts.temporary_password() for _ in range(50)}
    assert len(drawn) == 50
    assert all(set(p.replace("-", "")) <= set(accounts.TEMPORARY_ALPHABET) for p in drawn)


# --- roles ------------------------------------------------------------------------------------------------------


def test_admin_changes_a_role_both_ways_and_it_is_audited(engine, agent, admin) -> None:
    assert accounts.set_staff_role(engine, agent.id, "admin", actor=admin.email, now=T0 + 1).is_admin
    assert not accounts.set_staff_role(engine, agent.id, "agent", actor=admin.email, now=T0 + 2).is_admin
    changes = [entry for entry in audit_entries(engine) if entry[1] == "role_change"]
    assert changes == [
        (admin.email, "role_change", agent.email, "agent → admin"),
        (admin.email, "role_change", agent.email, "admin → agent"),
    ]


def test_the_last_active_admin_cannot_be_demoted_or_disabled(engine, agent, admin) -> None:
    with pytest.raises(auth.AccountError, match="last active administrator"):
        accounts.set_staff_role(engine, admin.id, "agent", actor=admin.email, now=T0 + 1)
    with pytest.raises(auth.AccountError, match="last active administrator"):
        accounts.set_staff_active(engine, admin.id, False, actor="cli", now=T0 + 1)
    accounts.set_staff_role(engine, agent.id, "admin", actor=admin.email, now=T0 + 2)
    assert not accounts.set_staff_role(engine, admin.id, "agent", actor=admin.email, now=T0 + 3).is_admin
    with pytest.raises(auth.AccountError, match="last active administrator"):
        accounts.set_staff_role(engine, agent.id, "agent", actor=agent.email, now=T0 + 4)


@pytest.mark.parametrize(("user_id", "role"), [(999, "agent"), (1, "maire")])
def test_unknown_accounts_and_roles_are_refused(engine, agent, user_id: int, role: str) -> None:
    with pytest.raises(auth.AccountError):
        accounts.set_staff_role(engine, user_id, role, actor="admin@pau.example")
    with pytest.raises(auth.AccountError):
        accounts.reset_staff_password(engine, 999, actor="admin@pau.example")
