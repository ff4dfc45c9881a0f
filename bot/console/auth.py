"""Staff accounts (argon2), login with a per-account lock-out, server-side sessions with CSRF tokens, roles, password
changes and resets, and the audit log."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from bot.console.schema import (
    audit_log,
    login_attempts,
    login_throttle,
    staff_password_resets,
    staff_sessions,
    staff_users,
)
from bot.db import insert_ignoring_conflict, write_transaction

ROLES = ("admin", "agent")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
MIN_DISTINCT_CHARACTERS = 6
# Lock-out per e-mail address: this many failures in a row are free, then each one locks the address for twice as
# long as the previous (from FIRST_LOCK_SECONDS up to MAX_LOCK_SECONDS); a success or a quiet day forgets them.
FREE_FAILURES = 5
FIRST_LOCK_SECONDS = 60
MAX_LOCK_SECONDS = 3600
FAILURE_MEMORY_SECONDS = 24 * 3600
TEMPORARY_PASSWORD_SECONDS = 24 * 3600
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
    must_change_password: bool = False  # signed in with a temporary password an admin set

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


class AccountError(ValueError):
    """A refused change to a staff account: `str()` is English (command line), `french` what the console shows."""

    def __init__(self, message: str, french: str) -> None:
        super().__init__(message)
        self.french = french


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


def check_password_strength(password: str, email: str) -> None:
    """Raise AccountError unless `password` is long and varied enough and does not contain the e-mail's name."""
    name = normalize_email(email).partition("@")[0]
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"the password needs at least {MIN_PASSWORD_LENGTH} characters",
            f"Le mot de passe doit compter au moins {MIN_PASSWORD_LENGTH} caractères.",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(
            f"the password may have at most {MAX_PASSWORD_LENGTH} characters",
            f"Le mot de passe ne peut pas dépasser {MAX_PASSWORD_LENGTH} caractères.",
        )
    if len(set(password)) < MIN_DISTINCT_CHARACTERS:
        raise AccountError(
            "the password repeats too few different characters",
            "Le mot de passe répète trop peu de caractères différents : variez-les.",
        )
    if len(name) >= 3 and name in password.lower():
        raise AccountError(
            "the password must not contain the e-mail address", "Le mot de passe ne doit pas contenir l'adresse e-mail."
        )


def normalize_email(email: str) -> str:
    """E-mail addresses compare without case and surrounding spaces."""
    return email.strip().lower()


def lock_seconds(failures: int) -> float:
    """How long an address stays locked after its `failures`-th failure in a row (0 while failures are free)."""
    if failures < FREE_FAILURES:
        return 0.0
    return float(min(FIRST_LOCK_SECONDS * 2 ** min(failures - FREE_FAILURES, 16), MAX_LOCK_SECONDS))


def account_query() -> Any:
    """An account with its pending password reset, if any (labelled `reset_set_at`, `reset_used_at`)."""
    resets = staff_password_resets
    return select(
        staff_users, resets.c.set_at.label("reset_set_at"), resets.c.used_at.label("reset_used_at")
    ).outerjoin(resets, resets.c.user_id == staff_users.c.id)


def staff_user(row: Any) -> StaffUser:
    """The account of a row of `account_query()`."""
    m = row._mapping
    must_change = m.get("reset_set_at") is not None
    return StaffUser(m["id"], m["email"], m["role"], bool(m["active"]), m["created_at"], must_change)


def authenticate(engine: Engine, email: str, password: str, ip: str, *, now: float | None = None) -> StaffUser:
    """The account for these credentials, or LoginRefused.

    The attempt is recorded, and counted as a failure until the password proves right, in one transaction before
    any hashing: concurrent guesses are all counted, and an address locked by earlier failures costs no argon2 work.
    An address that is no account goes the same way (recorded, counted, locked alike) with one verification against
    a dummy hash, so neither the answer nor its timing tells whether an account exists. A temporary password set by
    an admin opens one session, which must then change it, within TEMPORARY_PASSWORD_SECONDS.
    """
    email, now = normalize_email(email)[:254], _now(now)
    claim = _claim_attempt(engine, email, ip, now, failure_action="login_failed")
    if claim is None:
        raise LoginRefused(email)
    attempt_id, account = claim
    matches = verify_password(account.password_hash if account is not None else _dummy_hash(), password)
    ok = account is not None and bool(account.active) and matches
    with engine.begin() as conn:
        if ok and account.reset_set_at is not None:
            ok = _use_temporary_password(conn, account, now)
        if ok:
            _forget_failures(conn, email, attempt_id, now)
        record_audit(conn, email, "login" if ok else "login_failed", None, None, now=now)
    if not ok:
        raise LoginRefused(email)
    return staff_user(account)


def change_password(
    engine: Engine, user: StaffUser, current: str, new: str, *, keep_token: str, ip: str, now: float | None = None
) -> None:
    """Replace `user`'s password after proving the current one; end their other sessions; raise AccountError.

    The proof is counted like a login attempt (same lock-out), so a stolen session cannot guess the password it
    would need to outlive itself. The session of `keep_token` (the one asking) stays open.
    """
    now = _now(now)
    if new == current:
        raise AccountError("the new password must differ", "Le nouveau mot de passe doit différer de l'actuel.")
    check_password_strength(new, user.email)
    claim = _claim_attempt(engine, user.email, ip, now, failure_action="password_change_failed")
    if claim is None:
        raise AccountError("too many failed attempts", "Trop d'essais infructueux : réessayez dans quelques minutes.")
    attempt_id, account = claim
    matches = account is not None and account.id == user.id and verify_password(account.password_hash, current)
    new_hash = hash_password(new) if matches else None
    with engine.begin() as conn:
        if new_hash is not None:
            _forget_failures(conn, user.email, attempt_id, now)
            conn.execute(staff_users.update().where(staff_users.c.id == user.id).values(password_hash=new_hash))
            conn.execute(staff_password_resets.delete().where(staff_password_resets.c.user_id == user.id))
            conn.execute(
                staff_sessions.delete().where(
                    staff_sessions.c.user_id == user.id, staff_sessions.c.token_hash != _token_hash(keep_token)
                )
            )
        action = "password_change" if new_hash is not None else "password_change_failed"
        record_audit(conn, user.email, action, user.email, None, now=now)
    if new_hash is None:
        raise AccountError("the current password is wrong", "Le mot de passe actuel est incorrect.")


def _claim_attempt(engine: Engine, email: str, ip: str, now: float, *, failure_action: str) -> tuple[int, Any] | None:
    """Record an attempt and count it as a failure, atomically; None when the address is locked (audited).

    Returns the attempt's id and the account (None for an unknown address). The counter row is locked for the
    transaction (a write transaction on SQLite, FOR UPDATE on PostgreSQL), so concurrent attempts count one by one.
    """
    with write_transaction(engine) as conn:
        conn.execute(login_throttle.delete().where(login_throttle.c.updated_at < now - FAILURE_MEMORY_SECONDS))
        fresh = {"email": email, "failures": 0, "locked_until": 0.0, "updated_at": now}
        insert_ignoring_conflict(conn, login_throttle, fresh, ["email"])
        state = conn.execute(select(login_throttle).where(login_throttle.c.email == email).with_for_update()).one()
        attempt_id = conn.execute(
            login_attempts.insert().values(email=email, ip=ip[:64], succeeded=False, at=now)
        ).inserted_primary_key[0]
        if state.locked_until > now:
            record_audit(conn, email, failure_action, None, "locked", now=now)
            return None
        failures = state.failures + 1
        conn.execute(
            login_throttle.update()
            .where(login_throttle.c.email == email)
            .values(failures=failures, locked_until=now + lock_seconds(failures), updated_at=now)
        )
        account = conn.execute(account_query().where(staff_users.c.email == email)).first()
    return attempt_id, account


def _forget_failures(conn: Connection, email: str, attempt_id: int, now: float) -> None:
    """The password proved right: the attempt succeeded and the address's failures are forgotten."""
    conn.execute(login_attempts.update().where(login_attempts.c.id == attempt_id).values(succeeded=True))
    conn.execute(
        login_throttle.update()
        .where(login_throttle.c.email == email)
        .values(failures=0, locked_until=0.0, updated_at=now)
    )


def _use_temporary_password(conn: Connection, account: Any, now: float) -> bool:
    """Whether a temporary password may open this session: not expired, and used once only."""
    if now - account.reset_set_at > TEMPORARY_PASSWORD_SECONDS:
        return False
    resets = staff_password_resets
    used = conn.execute(
        resets.update().where(resets.c.user_id == account.id, resets.c.used_at.is_(None)).values(used_at=now)
    )
    return used.rowcount == 1


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
        select(staff_sessions, staff_users, staff_password_resets.c.set_at.label("reset_set_at"))
        .join(staff_users, staff_users.c.id == staff_sessions.c.user_id)
        .outerjoin(staff_password_resets, staff_password_resets.c.user_id == staff_users.c.id)
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
        m["reset_set_at"] is not None,
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
