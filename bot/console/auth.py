"""Staff accounts (argon2), login with lock-out, server-side sessions with CSRF tokens, roles and the audit log."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection, Engine

from bot.console.schema import audit_log, create_console_schema, login_attempts, staff_sessions, staff_users

ROLES = ("admin", "agent")
MIN_PASSWORD_LENGTH = 12
LOCKOUT_WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_IP = 20
ABSOLUTE_SESSION_SECONDS = 12 * 3600
# A session's last use is written at most this often, so reading pages does not write on every request.
TOUCH_INTERVAL_SECONDS = 30

_hasher = PasswordHasher()
# Verified against when the account does not exist, so an unknown e-mail takes as long as a wrong password.
_DUMMY_HASH: str | None = None


@dataclass(frozen=True)
class StaffUser:
    """A staff account as the console sees it (never its hash)."""

    id: int
    email: str
    role: str
    active: bool
    created_at: float

    @property
    def is_admin(self) -> bool:
        """Whether the account may manage staff, reveal masked data and see the audit log."""
        return self.role == "admin"


@dataclass(frozen=True)
class StaffSession:
    """A live console session: who, and the CSRF token its forms must carry."""

    user: StaffUser
    csrf_token: str
    created_at: float


class LoginRefused(Exception):
    """Wrong e-mail, wrong password, disabled account or too many failures (deliberately not told apart)."""


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches the argon2 hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _dummy_hash() -> str:
    """A hash of a random password, made on first use (nothing heavy at import)."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
    return _DUMMY_HASH


def normalize_email(email: str) -> str:
    """E-mail addresses compare without case and surrounding spaces."""
    return email.strip().lower()


def _user(row: Any) -> StaffUser:
    m = row._mapping
    return StaffUser(m["id"], m["email"], m["role"], bool(m["active"]), m["created_at"])


def create_staff_user(
    engine: Engine, email: str, role: str, password: str, *, actor: str = "cli", now: float | None = None
) -> StaffUser:
    """Create a staff account; raise ValueError for a bad role, a short password or an e-mail already used."""
    email = normalize_email(email)
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if "@" not in email or len(email) > 254:
        raise ValueError("a valid e-mail address is required")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    create_console_schema(engine)  # the CLI may run before the console ever started
    now = _now(now)
    with engine.begin() as conn:
        if conn.execute(select(staff_users.c.id).where(staff_users.c.email == email)).first():
            raise ValueError(f"a staff account already exists for {email}")
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
        return [_user(r) for r in conn.execute(select(staff_users).order_by(staff_users.c.email))]


def set_staff_active(engine: Engine, user_id: int, active: bool, *, actor: str, now: float | None = None) -> None:
    """Enable or disable an account; disabling also ends its sessions."""
    now = _now(now)
    with engine.begin() as conn:
        email = conn.execute(select(staff_users.c.email).where(staff_users.c.id == user_id)).scalar()
        if email is None:
            raise ValueError("unknown staff account")
        conn.execute(staff_users.update().where(staff_users.c.id == user_id).values(active=active))
        if not active:
            conn.execute(staff_sessions.delete().where(staff_sessions.c.user_id == user_id))
        record_audit(conn, actor, "account_enable" if active else "account_disable", email, None, now=now)


def authenticate(engine: Engine, email: str, password: str, ip: str, *, now: float | None = None) -> StaffUser:
    """The account for these credentials, or LoginRefused; every attempt is counted for the lock-out."""
    email, now = normalize_email(email)[:254], _now(now)
    since = now - LOCKOUT_WINDOW_SECONDS
    with engine.connect() as conn:
        failures_for_account = _failures(conn, login_attempts.c.email == email, since)
        failures_from_ip = _failures(conn, login_attempts.c.ip == ip, since)
        row = conn.execute(select(staff_users).where(staff_users.c.email == email)).first()
    locked = failures_for_account >= MAX_FAILURES_PER_ACCOUNT or failures_from_ip >= MAX_FAILURES_PER_IP
    stored_hash = row._mapping["password_hash"] if row is not None else _dummy_hash()
    matches = verify_password(stored_hash, password)  # always verify: same timing for every refusal
    ok = bool(row is not None and row._mapping["active"] and matches and not locked)
    with engine.begin() as conn:
        conn.execute(login_attempts.insert().values(email=email, ip=ip[:64], succeeded=ok, at=now))
        record_audit(conn, email, "login" if ok else "login_failed", None, "locked" if locked else None, now=now)
    if not ok or row is None:
        raise LoginRefused(email)
    return _user(row)


def _failures(conn: Connection, who: Any, since: float) -> int:
    """Failed attempts since `since`, counting only those after the last success."""
    last_success = select(func.max(login_attempts.c.at)).where(and_(who, login_attempts.c.succeeded.is_(True)))
    floor = conn.execute(last_success).scalar() or 0.0
    count = select(func.count()).where(
        and_(who, login_attempts.c.succeeded.is_(False), login_attempts.c.at >= max(since, floor))
    )
    return int(conn.execute(count).scalar() or 0)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_session(engine: Engine, user: StaffUser, *, now: float | None = None) -> str:
    """Start a session for `user`; return the random cookie token (only its hash is stored)."""
    token, now = secrets.token_urlsafe(32), _now(now)
    with engine.begin() as conn:
        conn.execute(
            staff_sessions.insert().values(
                token_hash=_token_hash(token),
                user_id=user.id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                last_seen_at=now,
            )
        )
    return token


def resolve_session(
    engine: Engine, token: str | None, *, idle_minutes: int, now: float | None = None
) -> StaffSession | None:
    """The live session of this cookie token (and mark it used), or None if unknown, idle, too old or disabled."""
    if not token:
        return None
    now = _now(now)
    query = (
        select(staff_sessions, staff_users)
        .join(staff_users, staff_users.c.id == staff_sessions.c.user_id)
        .where(staff_sessions.c.token_hash == _token_hash(token))
    )
    with engine.begin() as conn:
        row = conn.execute(query).first()
        if row is None:
            return None
        m = row._mapping
        expired = (
            now - m[staff_sessions.c.last_seen_at] > idle_minutes * 60
            or now - m[staff_sessions.c.created_at] > ABSOLUTE_SESSION_SECONDS
            or not m[staff_users.c.active]
        )
        if expired:
            conn.execute(staff_sessions.delete().where(staff_sessions.c.id == m[staff_sessions.c.id]))
            return None
        if now - m[staff_sessions.c.last_seen_at] >= TOUCH_INTERVAL_SECONDS:
            conn.execute(
                staff_sessions.update().where(staff_sessions.c.id == m[staff_sessions.c.id]).values(last_seen_at=now)
            )
    user = StaffUser(
        m[staff_users.c.id],
        m[staff_users.c.email],
        m[staff_users.c.role],
        bool(m[staff_users.c.active]),
        m[staff_users.c.created_at],
    )
    return StaffSession(user, m[staff_sessions.c.csrf_token], m[staff_sessions.c.created_at])


def close_session(engine: Engine, token: str, *, actor: str, now: float | None = None) -> None:
    """End the session of this cookie token and note the logout."""
    with engine.begin() as conn:
        conn.execute(staff_sessions.delete().where(staff_sessions.c.token_hash == _token_hash(token)))
        record_audit(conn, actor, "logout", None, None, now=_now(now))


def csrf_matches(expected: str | None, submitted: str | None) -> bool:
    """Constant-time comparison of the session's CSRF token with the one a form sent."""
    if not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), submitted.encode("utf-8"))


def new_csrf_token() -> str:
    """A random token for a form that has no session yet (the login form)."""
    return secrets.token_urlsafe(32)


def record_audit(
    conn: Connection, actor: str, action: str, target: str | None, detail: str | None, *, now: float | None = None
) -> None:
    """Write one audit entry inside the caller's transaction."""
    conn.execute(
        audit_log.insert().values(
            actor=actor[:254], action=action, target=(target or None) and target[:300], detail=detail, at=_now(now)
        )
    )


def list_audit(engine: Engine, *, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """A page of audit entries, newest first, and the total number of entries."""
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(audit_log)).scalar() or 0)
        rows = conn.execute(
            select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit).offset(offset)
        )
        return [dict(r._mapping) for r in rows], total


def _now(now: float | None) -> float:
    return time.time() if now is None else now
