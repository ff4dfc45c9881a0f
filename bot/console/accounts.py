"""Staff account administration: create, list, enable or disable, change the role, reset the password; all audited.

The console always keeps one active administrator: neither a role change nor disabling an account may remove the
last one (the admin rows are locked while this is checked, so two admins demoting each other cannot both succeed).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from bot.console.auth import (
    ROLES,
    AccountError,
    StaffUser,
    account_query,
    check_password_strength,
    hash_password,
    normalize_email,
    record_audit,
    staff_user,
)
from bot.console.schema import create_console_schema, login_throttle, staff_password_resets, staff_sessions, staff_users
from bot.db import write_transaction

ROLE_LABELS = {"admin": "administrateur", "agent": "agent"}
# Temporary passwords are read aloud or copied by hand: no look-alike characters (l/1, o/0, i).
TEMPORARY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def create_staff_user(
    engine: Engine, email: str, role: str, password: str, *, actor: str = "cli", now: float | None = None
) -> StaffUser:
    """Create a staff account; raise AccountError for a bad role, a weak password or an e-mail already used."""
    email = normalize_email(email)
    _check_role(role)
    if "@" not in email or len(email) > 254:
        raise AccountError("a valid e-mail address is required", "Saisissez une adresse e-mail valide.")
    check_password_strength(password, email)
    create_console_schema(engine)  # the CLI may run before the console ever started
    now = time.time() if now is None else now
    with engine.begin() as conn:
        if conn.execute(select(staff_users.c.id).where(staff_users.c.email == email)).first():
            raise AccountError(
                f"a staff account already exists for {email}", "Un compte existe déjà pour cette adresse."
            )
        new_id = conn.execute(
            staff_users.insert().values(
                email=email, role=role, password_hash=hash_password(password), active=True, created_at=now
            )
        ).inserted_primary_key[0]
        record_audit(conn, actor, "account_create", email, f"role={role}", now=now)
    return StaffUser(new_id, email, role, True, now)


def list_staff_users(engine: Engine) -> list[StaffUser]:
    """Every staff account, by e-mail."""
    with engine.connect() as conn:
        return [staff_user(r) for r in conn.execute(account_query().order_by(staff_users.c.email))]


def set_staff_active(engine: Engine, user_id: int, active: bool, *, actor: str, now: float | None = None) -> None:
    """Enable or disable an account; disabling also ends its sessions, and is refused for the last admin."""
    now = time.time() if now is None else now
    with write_transaction(engine) as conn:
        target = _target(conn, user_id)
        if not active and target.role == "admin":
            _keep_an_admin(conn, user_id)
        conn.execute(staff_users.update().where(staff_users.c.id == user_id).values(active=active))
        if not active:
            conn.execute(staff_sessions.delete().where(staff_sessions.c.user_id == user_id))
        record_audit(conn, actor, "account_enable" if active else "account_disable", target.email, None, now=now)


def set_staff_role(engine: Engine, user_id: int, role: str, *, actor: str, now: float | None = None) -> StaffUser:
    """Give an account the role `role` (audited); refused for an unknown role or the last admin's demotion."""
    _check_role(role)
    now = time.time() if now is None else now
    with write_transaction(engine) as conn:
        target = _target(conn, user_id)
        if target.role != role:
            if target.role == "admin":
                _keep_an_admin(conn, user_id)
            conn.execute(staff_users.update().where(staff_users.c.id == user_id).values(role=role))
            record_audit(conn, actor, "role_change", target.email, f"{target.role} → {role}", now=now)
        return staff_user(conn.execute(account_query().where(staff_users.c.id == user_id)).one())


def reset_staff_password(engine: Engine, user_id: int, *, actor: str, now: float | None = None) -> tuple[str, str]:
    """Give an account a temporary password (returned once, with the account's e-mail, never stored in clear).

    The account's sessions end and its lock-out is lifted (a reset is how a locked-out agent gets back in); the
    temporary password opens one session, within a day, and that session must choose a new password.
    """
    now = time.time() if now is None else now
    temporary = temporary_password()
    temporary_hash = hash_password(temporary)
    with write_transaction(engine) as conn:
        target = _target(conn, user_id)
        conn.execute(staff_users.update().where(staff_users.c.id == user_id).values(password_hash=temporary_hash))
        conn.execute(staff_password_resets.delete().where(staff_password_resets.c.user_id == user_id))
        conn.execute(staff_password_resets.insert().values(user_id=user_id, set_by=actor[:254], set_at=now))
        conn.execute(staff_sessions.delete().where(staff_sessions.c.user_id == user_id))
        conn.execute(login_throttle.delete().where(login_throttle.c.email == target.email))
        record_audit(conn, actor, "password_reset", target.email, None, now=now)
    return target.email, temporary


def temporary_password() -> str:
    """A random password easy to read out or copy (four groups of four characters, about 79 bits)."""
    return "-".join("".join(secrets.choice(TEMPORARY_ALPHABET) for _ in range(4)) for _ in range(4))


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}", "Choisissez un rôle : administrateur ou agent.")


def _target(conn: Connection, user_id: int) -> Any:
    """The account being changed, or AccountError."""
    row = conn.execute(select(staff_users).where(staff_users.c.id == user_id)).first()
    if row is None:
        raise AccountError("unknown staff account", "Ce compte n'existe pas.")
    return row


def _keep_an_admin(conn: Connection, user_id: int) -> None:
    """Refuse to take the admin role (or activity) from `user_id` when no other active admin would remain."""
    admins = conn.execute(
        select(staff_users.c.id)
        .where(staff_users.c.role == "admin", staff_users.c.active.is_(True))
        .order_by(staff_users.c.id)
        .with_for_update()
    ).all()
    if not [row for row in admins if row.id != user_id]:
        raise AccountError(
            "the last active administrator must stay one",
            "Il faut au moins un administrateur actif : nommez-en un autre avant.",
        )
