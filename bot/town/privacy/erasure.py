"""Erasure of one citizen's data (« supprimer mes données », or an admin in the console).

Everything keyed by the citizen's sender id goes: the conversation (Rasa's `events`), channel data (SMS identity,
buttons offered), pending contacts, follow-up subscriptions, reviews, corrections, handoff requests, counter
appointments (their slots are free again), and the notifications still waiting for them. Their tickets stay,
because the town still has to fix the pothole, but anonymised: no sender, no contact, the description masked, the
photo deleted (given the media store). A photo uploaded but never attached to a ticket names nobody; retention
deletes it within two days. Two things are kept on purpose: an SMS opt-out (the town must keep honouring a STOP)
and the staff audit log (who did what, erasures included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.db import read_transaction, write_transaction
from bot.town.media import MediaStore
from bot.town.privacy.masking import mask_text
from bot.town.privacy.pseudonyms import sms_sender_id, voice_sender_id

# The slot action_erase_my_data sets: the conversation store then stores nothing of this conversation.
ERASED_SLOT = "data_erased"

SENDER_COLUMN = "sender_id"
TICKETS_TABLE = "tickets"
# Tables whose rows about a citizen are kept: tickets (anonymised instead), opt-outs, the audit log.
KEPT_TABLES = frozenset({TICKETS_TABLE, "sms_optouts", "audit_log"})
# Tables that name the citizen in another column than `sender_id`.
RECIPIENT_COLUMNS = {"outbox": "recipient"}
SMS_IDENTITIES = "sms_identities"
CHANNEL_PREFIXES = {"sms": "sms:", "telegram": "telegram:", "web": "webchat:", "voice": "voice:", "rest": "rest:"}


@dataclass
class ErasureReport:
    """What an erasure removed, table by table, and how many tickets it anonymised."""

    sender_ids: list[str]
    deleted: dict[str, int] = field(default_factory=dict)
    tickets_anonymised: int = 0
    photos: list[str] = field(default_factory=list)  # media references of the anonymised tickets
    photos_deleted: int = 0

    @property
    def rows_deleted(self) -> int:
        """Rows deleted in every table together."""
        return sum(self.deleted.values())

    def summary(self) -> str:
        """A one-line account for the audit log (counts only, never the data)."""
        parts = [f"{table}={count}" for table, count in sorted(self.deleted.items()) if count]
        return f"{self.rows_deleted} lignes supprimées ({', '.join(parts) or 'aucune'}), " + (
            f"{self.tickets_anonymised} signalement(s) anonymisé(s), {self.photos_deleted} photo(s) supprimée(s)"
        )


def conversation_erased(events: Iterable[dict[str, Any]]) -> bool:
    """Whether these (serialised) events include the erasure marker set by action_erase_my_data."""
    return any(e.get("event") == "slot" and e.get("name") == ERASED_SLOT and e.get("value") for e in events)


def erase_sender(
    engine: Engine,
    sender_id: str,
    *,
    spare: frozenset[str] = frozenset(),
    mask: Callable[[str], str] = mask_text,
    media: MediaStore | None = None,
) -> ErasureReport:
    """Delete every row about `sender_id` (but in `spare` tables) and anonymise their tickets, in one transaction;
    then delete the photos of those tickets from `media`."""
    report = ErasureReport([sender_id])
    with write_transaction(engine) as conn:
        _erase_in(conn, sender_id, report, mask, spare)
    return _delete_photos(report, media)


def _delete_photos(report: ErasureReport, media: MediaStore | None) -> ErasureReport:
    """Files go once the transaction that unlinked them committed (a rollback leaves the tickets' photos whole)."""
    if media is not None:
        report.photos_deleted = media.delete(report.photos)
    return report


def forget_sms_identity(engine: Engine, sender_id: str) -> int:
    """Delete the phone number behind an SMS pseudonym (after the erasure confirmation was sent to it)."""
    with write_transaction(engine) as conn:
        if SMS_IDENTITIES not in sa.inspect(conn).get_table_names():
            return 0
        identities = sa.table(SMS_IDENTITIES, sa.column("sender_id"))
        return conn.execute(sa.delete(identities).where(identities.c.sender_id == sender_id)).rowcount or 0


def erase_senders(
    engine: Engine,
    sender_ids: Iterable[str],
    *,
    mask: Callable[[str], str] = mask_text,
    media: MediaStore | None = None,
) -> ErasureReport:
    """`erase_sender` for several conversations of one person, in one transaction."""
    ids = list(dict.fromkeys(sender_ids))
    report = ErasureReport(ids)
    with write_transaction(engine) as conn:
        for sender_id in ids:
            _erase_in(conn, sender_id, report, mask, frozenset())
    return _delete_photos(report, media)


def _erase_in(
    conn: Connection, sender_id: str, report: ErasureReport, mask: Callable[[str], str], spare: frozenset[str]
) -> None:
    inspector = sa.inspect(conn)
    for name in inspector.get_table_names():
        columns = {c["name"] for c in inspector.get_columns(name)}
        column = RECIPIENT_COLUMNS.get(name) or (SENDER_COLUMN if SENDER_COLUMN in columns else None)
        if name in KEPT_TABLES or name in spare or column is None or column not in columns:
            continue
        table = sa.table(name, sa.column(column))
        deleted = conn.execute(sa.delete(table).where(table.c[column] == sender_id)).rowcount or 0
        report.deleted[name] = report.deleted.get(name, 0) + deleted
    if TICKETS_TABLE in inspector.get_table_names():
        anonymised = anonymise_tickets(conn, TICKETS.c.sender_id == sender_id, mask)
        report.tickets_anonymised += anonymised.count
        report.photos += anonymised.photos


TICKETS = sa.table(
    TICKETS_TABLE, sa.column("id"), sa.column("sender_id"), sa.column("contact"), sa.column("description"),
    sa.column("idempotency_key"), sa.column("status"), sa.column("updated_datetime", sa.DateTime),
    sa.column("media_url"),
)  # fmt: skip


@dataclass(frozen=True)
class Anonymised:
    """How many tickets were anonymised, and the photos they let go (to delete once committed)."""

    count: int
    photos: list[str]


def anonymise_tickets(conn: Connection, condition: Any, mask: Callable[[str], str] = mask_text) -> Anonymised:
    """Clear the sender, contact, idempotency key (it embeds the sender) and photo, and mask the description of the
    tickets matching `condition`; the ticket itself (what, where, when, its history) stays: it is the town's record.
    A photo may show the citizen, their car or their house: it goes with them."""
    rows = conn.execute(sa.select(TICKETS.c.id, TICKETS.c.description, TICKETS.c.media_url).where(condition)).all()
    for ticket_id, description, _photo in rows:
        conn.execute(
            sa.update(TICKETS)
            .where(TICKETS.c.id == ticket_id)
            .values(
                sender_id=None, contact=None, idempotency_key=None, media_url=None, description=mask(description or "")
            )
        )
    return Anonymised(len(rows), [photo for _id, _description, photo in rows if photo])


def sender_ids_for(engine: Engine, channel: str, identity: str, *, identity_secret: bytes | None = None) -> list[str]:
    """The conversations of a channel identity: a phone number or SMS pseudonym, a Telegram chat id, a sender id.

    A phone number is found through `sms_identities` and, given the channel's `identity_secret`, through its keyed
    pseudonym: the conversation or tickets of a number that retention already forgot are still found.
    """
    identity = identity.strip()
    if not identity:
        return []
    prefix = CHANNEL_PREFIXES.get(channel, "")
    if channel == "sms" and not identity.startswith(prefix):
        return _sms_senders_of(engine, identity, identity_secret)
    if channel == "voice" and not identity.startswith(prefix):
        return _voice_senders_of(engine, identity, identity_secret)
    if prefix and not identity.startswith(prefix):
        identity = prefix + identity
    return [identity]


def _sms_senders_of(engine: Engine, number: str, identity_secret: bytes | None) -> list[str]:
    """SMS pseudonyms behind a phone number that something is still stored about."""
    try:
        e164 = phonenumbers.format_number(phonenumbers.parse(number, "FR"), phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        return []
    found: set[str] = set()
    with read_transaction(engine) as conn:
        inspector = sa.inspect(conn)
        names = inspector.get_table_names()
        if SMS_IDENTITIES in names:
            identities = sa.table(SMS_IDENTITIES, sa.column("sender_id"), sa.column("address"))
            found.update(conn.execute(sa.select(identities.c.sender_id).where(identities.c.address == e164)).scalars())
        if identity_secret is not None:
            pseudonym = sms_sender_id(identity_secret, e164)
            if pseudonym not in found and _anything_stored_about(conn, inspector, names, pseudonym):
                found.add(pseudonym)
    return sorted(found)


def _voice_senders_of(engine: Engine, number: str, identity_secret: bytes | None) -> list[str]:
    """The phone-call pseudonym of a number, when something is still stored about it (calls keep no number)."""
    try:
        e164 = phonenumbers.format_number(phonenumbers.parse(number, "FR"), phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        return []
    if identity_secret is None:
        return []
    pseudonym = voice_sender_id(identity_secret, e164)
    with read_transaction(engine) as conn:
        inspector = sa.inspect(conn)
        found = _anything_stored_about(conn, inspector, inspector.get_table_names(), pseudonym)
    return [pseudonym] if found else []


def _anything_stored_about(conn: Connection, inspector: Any, names: list[str], sender_id: str) -> bool:
    """Whether any table holds a row about this sender id (its conversation, tickets, subscriptions...)."""
    for name in names:
        column = RECIPIENT_COLUMNS.get(name) or SENDER_COLUMN
        if column not in {c["name"] for c in inspector.get_columns(name)}:
            continue
        table = sa.table(name, sa.column(column))
        if conn.execute(sa.select(table.c[column]).where(table.c[column] == sender_id).limit(1)).first():
            return True
    return False
