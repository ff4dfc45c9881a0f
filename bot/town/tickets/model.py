"""Plain values the ticket store takes and returns (no database objects leak out)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class TicketDraft:
    """What a citizen (or an Open311 client) reported, before it has a reference."""

    service_code: str
    description: str = ""
    address: str | None = None
    street: str | None = None
    lat: float | None = None
    long: float | None = None
    media_url: str | None = None
    channel: str = "rest"
    sender_id: str | None = None
    contact: str | None = None
    idempotency_key: str | None = None
    expected_datetime: datetime | None = None
    subscribe_creator: bool = True
    urgent: bool = False  # the conversation saw a danger; the store also looks for one in the description
    contact_consent: bool = False  # the citizen agreed to get this ticket's updates at `contact`


@dataclass(frozen=True)
class Ticket:
    """A stored ticket: an Open311 service request plus its channel, sender and French lifecycle."""

    id: int
    ref: str
    service_code: str
    status: str
    state: str
    state_reason: str | None
    status_notes: str | None
    description: str
    address: str | None
    street: str | None
    lat: float | None
    long: float | None
    media_url: str | None
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None
    channel: str
    sender_id: str | None
    contact: str | None
    idempotency_key: str | None
    priority: str = "normal"
    external_id: str | None = None
    external_token: str | None = None
    external_status: str | None = None
    external_notes: str | None = None

    @property
    def urgent(self) -> bool:
        """Whether the ticket reports a danger."""
        return self.priority == "urgent"

    @classmethod
    def from_row(cls, row: Any) -> Ticket:
        """Build from a `tickets` row."""
        m = row._mapping
        return cls(
            id=m["id"],
            ref=m["service_request_id"],
            service_code=m["service_code"],
            status=m["status"],
            state=m["state"],
            state_reason=m["state_reason"],
            status_notes=m["status_notes"],
            description=m["description"] or "",
            address=m["address"],
            street=m["street"],
            lat=m["lat"],
            long=m["long"],
            media_url=m["media_url"],
            requested_datetime=m["requested_datetime"],
            updated_datetime=m["updated_datetime"],
            expected_datetime=m["expected_datetime"],
            channel=m["channel"],
            sender_id=m["sender_id"],
            contact=m["contact"],
            idempotency_key=m["idempotency_key"],
            priority=m["priority"] or "normal",
            external_id=m["external_id"],
            external_token=m["external_token"],
            external_status=m["external_status"],
            external_notes=m["external_notes"],
        )


@dataclass(frozen=True)
class HistoryEntry:
    """One dated status change of a ticket."""

    state: str
    status: str
    note: str | None
    reason: str | None
    actor: str
    changed_at: datetime


@dataclass(frozen=True)
class DuplicateCandidate:
    """An open ticket that may describe the same problem; distance is None when matched by street."""

    ticket: Ticket
    distance_m: float | None


@dataclass(frozen=True)
class TicketView:
    """What a citizen may see of a ticket: everything if they follow it, the status only otherwise."""

    ref: str
    state: str
    status: str
    state_reason: str | None
    updated_datetime: datetime
    full: bool
    service_code: str | None = None
    description: str | None = None
    address: str | None = None
    status_notes: str | None = None
    requested_datetime: datetime | None = None
    expected_datetime: datetime | None = None

    def as_slots(self) -> dict[str, Any]:
        """A JSON-friendly dict (datetimes as ISO 8601), handy for action slots and templates."""
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class RequestQuery:
    """Filters of Open311 GET requests.json."""

    refs: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 1000


@dataclass(frozen=True)
class OutboxJob:
    """A message waiting to leave: a citizen notification or a forward to an external back office."""

    id: int
    kind: str
    dedup_key: str
    payload: dict[str, Any]
    channel: str | None
    recipient: str | None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None = None
    response: str | None = None
    created_at: datetime | None = None
    sent_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Any) -> OutboxJob:
        """Build from an `outbox` row."""
        m = row._mapping
        return cls(
            id=m["id"],
            kind=m["kind"],
            dedup_key=m["dedup_key"],
            payload=dict(m["payload"] or {}),
            channel=m["channel"],
            recipient=m["recipient"],
            status=m["status"],
            attempts=m["attempts"],
            next_attempt_at=m["next_attempt_at"],
            last_error=m["last_error"],
            response=m["response"],
            created_at=m["created_at"],
            sent_at=m["sent_at"],
        )
