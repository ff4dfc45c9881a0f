"""The ticket store: creation with unique references, duplicates, followers, status changes and what citizens see.

Synchronous on purpose (SQLAlchemy 1.4 Core); async callers use `AsyncTicketStore`, which runs each call in a
worker thread. Every write happens in one transaction together with the outbox jobs it causes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from bot.clock import utc_now
from bot.db import insert_ignoring_conflict, read_transaction, write_transaction
from bot.town.media import MediaStore, media_store
from bot.town.tickets.alerts import alert_payload
from bot.town.tickets.categories import INITIAL_STATE, is_problem_type, open311_status
from bot.town.tickets.danger import is_dangerous
from bot.town.tickets.intake import mask_description, pending_photo
from bot.town.tickets.location import degrees_of_latitude, degrees_of_longitude, haversine_m, normalise_street
from bot.town.tickets.model import DuplicateCandidate, HistoryEntry, RequestQuery, Ticket, TicketDraft, TicketView
from bot.town.tickets.open311 import forward_form
from bot.town.tickets.outbox import ALERT_KIND, FORWARD_KIND, NOTIFY_KIND, PHOTO_KIND, enqueue
from bot.town.tickets.photos import photo_job_payload
from bot.town.tickets.references import PREFIX_PATTERN, format_reference, parse_reference
from bot.town.tickets.satisfaction import ask_when_closed
from bot.town.tickets.schema import (
    NORMAL_PRIORITY,
    URGENT_PRIORITY,
    contact_consents,
    subscriptions,
    ticket_counters,
    ticket_history,
    tickets,
)

if TYPE_CHECKING:
    from bot.settings import Settings

Clock = Callable[[], datetime]
DUPLICATE_RADIUS_M = 50.0
MAX_REQUESTS = 1000


class TicketNotFound(LookupError):
    """No ticket has this reference."""


class TicketStore:
    """Tickets on one SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(
        self,
        engine: Engine,
        *,
        prefix: str = "PAU",
        timezone: str = "Europe/Paris",
        clock: Clock = utc_now,
        forward_new_tickets: bool = False,
        media: MediaStore | None = None,
        alert_email: str | None = None,
        console_url: str = "http://127.0.0.1:8000",
    ) -> None:
        if not PREFIX_PATTERN.fullmatch(prefix):
            raise ValueError(f"ticket prefix must be 2 to 6 letters, not {prefix!r}")
        self.engine = engine
        self.prefix = prefix.upper()
        self.zone = ZoneInfo(timezone)
        self.clock = clock
        self.forward_new_tickets = forward_new_tickets
        self.media = media
        self.alert_email = alert_email
        self.console_url = console_url

    # Creation -----------------------------------------------------------------------------------------------

    def create_ticket(self, draft: TicketDraft) -> Ticket:
        """Store a new ticket with a fresh reference, or return the one created earlier with this idempotency key.

        Whatever the way in (conversation, call-back, Open311), what is stored is screened first: see `screen`.
        A danger (seen by the conversation, or in the description) makes the ticket urgent: the on-call address
        (`alert_email`) is then alerted by an outbox job written in the same transaction.
        """
        if not is_problem_type(draft.service_code):
            raise ValueError(f"unknown service_code {draft.service_code!r}")
        if (draft.lat is None) != (draft.long is None):
            raise ValueError("lat and long go together")
        draft = self.screen(draft)
        try:
            return self._create(draft)
        except IntegrityError:
            # Only the idempotency key can collide (references come from a locked counter): a concurrent retry won.
            existing = self._by_idempotency_key(draft.idempotency_key)
            if existing is None:
                raise
            return existing

    def screen(self, draft: TicketDraft) -> TicketDraft:
        """The draft as it may be stored: description masked (a phone or e-mail in it kept as the contact only),
        and a photo only if it is in the town's media store (`media:<name>`) or still to download from its channel
        (a Telegram file, an MMS on Twilio's API); photo URLs of other hosts are dropped, never stored, shown or
        forwarded."""
        urgent = draft.urgent or is_dangerous(draft.description)
        description, contact = mask_description(draft.description or "", draft.contact)
        media_url = pending_photo(draft.media_url)
        if draft.media_url and media_url is None:
            media_url = self.media.reference(draft.media_url) if self.media is not None else None
        return replace(draft, description=description, contact=contact, media_url=media_url, urgent=urgent)

    def _create(self, draft: TicketDraft) -> Ticket:
        now = self.clock()
        year = now.astimezone(self.zone).year
        with write_transaction(self.engine) as conn:
            counter = self._lock_counter(conn, year)
            if draft.idempotency_key:
                row = conn.execute(select(tickets).where(tickets.c.idempotency_key == draft.idempotency_key)).first()
                if row is not None:
                    return Ticket.from_row(row)
            number = counter + 1
            conn.execute(
                update(ticket_counters)
                .where(ticket_counters.c.prefix == self.prefix, ticket_counters.c.year == year)
                .values(value=number)
            )
            ref = format_reference(self.prefix, year, number)
            ticket_id = conn.execute(
                tickets.insert().values(
                    service_request_id=ref,
                    service_code=draft.service_code,
                    status=open311_status(INITIAL_STATE),
                    state=INITIAL_STATE,
                    description=draft.description or "",
                    address=draft.address,
                    street=normalise_street(draft.street or draft.address),
                    lat=draft.lat,
                    long=draft.long,
                    media_url=draft.media_url,
                    requested_datetime=now,
                    updated_datetime=now,
                    expected_datetime=draft.expected_datetime,
                    channel=draft.channel,
                    sender_id=draft.sender_id,
                    contact=draft.contact,
                    idempotency_key=draft.idempotency_key or None,
                    priority=URGENT_PRIORITY if draft.urgent else NORMAL_PRIORITY,
                )
            ).inserted_primary_key[0]
            conn.execute(
                ticket_history.insert().values(
                    ticket_id=ticket_id,
                    state=INITIAL_STATE,
                    status=open311_status(INITIAL_STATE),
                    actor=f"{draft.channel}:citizen",
                    changed_at=now,
                )
            )
            if draft.subscribe_creator and draft.sender_id:
                self._subscribe(conn, ticket_id, draft.channel, draft.sender_id, now)
            if draft.contact_consent and draft.contact:
                conn.execute(contact_consents.insert().values(ticket_id=ticket_id, given_at=now))
            ticket = Ticket.from_row(conn.execute(select(tickets).where(tickets.c.id == ticket_id)).one())
            self._enqueue_new_ticket_jobs(conn, ticket, now)
            return ticket

    def _enqueue_new_ticket_jobs(self, conn: Connection, ticket: Ticket, now: datetime) -> None:
        """What a new ticket sets going, in order: its photo's download from the channel, the urgent alert, the
        forward."""
        ref, pending = ticket.ref, pending_photo(ticket.media_url)
        if pending:
            # The citizen is the recipient: erasing them cancels the download with the rest of their jobs.
            payload = photo_job_payload(ref, pending)
            enqueue(conn, PHOTO_KIND, f"{PHOTO_KIND}:{ref}", payload, None, ticket.sender_id, now)
        if ticket.urgent and self.alert_email:
            payload = alert_payload(ticket, self.console_url)
            enqueue(conn, ALERT_KIND, f"{ALERT_KIND}:{ref}", payload, "email", self.alert_email, now)
        if self.forward_new_tickets:
            enqueue(conn, FORWARD_KIND, f"forward:{ref}", forward_form(ticket), None, None, now)

    def _lock_counter(self, conn: Connection, year: int) -> int:
        """Lock this prefix/year counter row until commit (FOR UPDATE; SQLite holds the database write lock)."""
        insert_ignoring_conflict(
            conn, ticket_counters, {"prefix": self.prefix, "year": year, "value": 0}, ["prefix", "year"]
        )
        return conn.execute(
            select(ticket_counters.c.value)
            .where(ticket_counters.c.prefix == self.prefix, ticket_counters.c.year == year)
            .with_for_update()
        ).scalar_one()

    def _by_idempotency_key(self, key: str | None) -> Ticket | None:
        if not key:
            return None
        with read_transaction(self.engine) as conn:
            row = conn.execute(select(tickets).where(tickets.c.idempotency_key == key)).first()
        return Ticket.from_row(row) if row else None

    # Reading ------------------------------------------------------------------------------------------------

    def get_ticket(self, ref: str) -> Ticket | None:
        """The ticket with this reference (typed loosely: "pau 2026 000123" works), or None."""
        canonical = parse_reference(ref)
        if canonical is None:
            return None
        with read_transaction(self.engine) as conn:
            row = conn.execute(select(tickets).where(tickets.c.service_request_id == canonical)).first()
        return Ticket.from_row(row) if row else None

    def history(self, ref: str) -> list[HistoryEntry]:
        """The dated status changes of a ticket, oldest first."""
        ticket = self._require(ref)
        with read_transaction(self.engine) as conn:
            rows = conn.execute(
                select(ticket_history).where(ticket_history.c.ticket_id == ticket.id).order_by(ticket_history.c.id)
            ).all()
        return [
            HistoryEntry(r.state, r.status, r.note, r.reason, r.actor, r.changed_at)  # type: ignore[attr-defined]
            for r in rows
        ]

    def list_requests(self, query: RequestQuery) -> list[Ticket]:
        """Tickets matching Open311 filters, newest first; explicit references override every other filter."""
        statement = select(tickets).order_by(tickets.c.requested_datetime.desc(), tickets.c.id.desc())
        if query.refs:
            refs = [r for r in (parse_reference(ref) for ref in query.refs) if r]
            statement = statement.where(tickets.c.service_request_id.in_(refs))
        else:
            if query.service_codes:
                statement = statement.where(tickets.c.service_code.in_(query.service_codes))
            if query.statuses:
                statement = statement.where(tickets.c.status.in_(query.statuses))
            if query.start is not None:
                statement = statement.where(tickets.c.requested_datetime >= query.start)
            if query.end is not None:
                statement = statement.where(tickets.c.requested_datetime <= query.end)
        statement = statement.limit(max(0, min(query.limit, MAX_REQUESTS)))
        with read_transaction(self.engine) as conn:
            return [Ticket.from_row(row) for row in conn.execute(statement)]

    def tickets_of(self, channel: str, sender_id: str, *, limit: int = 10) -> list[Ticket]:
        """Tickets this channel identity created or follows ("mes signalements"), newest first."""
        followed = exists().where(
            subscriptions.c.ticket_id == tickets.c.id,
            subscriptions.c.channel == channel,
            subscriptions.c.sender_id == sender_id,
        )
        created = and_(tickets.c.channel == channel, tickets.c.sender_id == sender_id)
        statement = (
            select(tickets)
            .where(or_(created, followed))
            .order_by(tickets.c.requested_datetime.desc(), tickets.c.id.desc())
            .limit(limit)
        )
        with read_transaction(self.engine) as conn:
            return [Ticket.from_row(row) for row in conn.execute(statement)]

    def status_for(self, ref: str, channel: str, sender_id: str) -> TicketView | None:
        """What this channel identity may see of a ticket: all of it if they follow it, its status otherwise."""
        ticket = self.get_ticket(ref)
        if ticket is None:
            return None
        if not self.is_follower(ticket, channel, sender_id):
            return TicketView(
                ref=ticket.ref,
                state=ticket.state,
                status=ticket.status,
                state_reason=ticket.state_reason,
                updated_datetime=ticket.updated_datetime,
                full=False,
            )
        return TicketView(
            ref=ticket.ref,
            state=ticket.state,
            status=ticket.status,
            state_reason=ticket.state_reason,
            updated_datetime=ticket.updated_datetime,
            full=True,
            service_code=ticket.service_code,
            description=ticket.description,
            address=ticket.address,
            status_notes=ticket.status_notes,
            requested_datetime=ticket.requested_datetime,
            expected_datetime=ticket.expected_datetime,
        )

    def contact_consented(self, ticket: Ticket) -> bool:
        """Whether the citizen agreed to get this ticket's updates at its contact (and a contact is still there)."""
        if not ticket.contact:
            return False
        with read_transaction(self.engine) as conn:
            row = conn.execute(select(contact_consents.c.ticket_id).where(contact_consents.c.ticket_id == ticket.id))
            return row.first() is not None

    def is_follower(self, ticket: Ticket, channel: str, sender_id: str) -> bool:
        """Whether this channel identity created or follows the ticket."""
        if not sender_id:
            return False
        if ticket.channel == channel and ticket.sender_id == sender_id:
            return True
        with read_transaction(self.engine) as conn:
            return (
                conn.execute(
                    select(subscriptions.c.id).where(
                        subscriptions.c.ticket_id == ticket.id,
                        subscriptions.c.channel == channel,
                        subscriptions.c.sender_id == sender_id,
                    )
                ).first()
                is not None
            )

    # Duplicates and followers -------------------------------------------------------------------------------

    def find_duplicates(
        self,
        service_code: str,
        *,
        lat: float | None = None,
        long: float | None = None,
        street: str | None = None,
        radius_m: float = DUPLICATE_RADIUS_M,
        limit: int = 5,
    ) -> list[DuplicateCandidate]:
        """Open tickets of this category within `radius_m` (or on the same street if unlocated), closest first."""
        street_key = normalise_street(street)
        point = (lat, long) if lat is not None and long is not None else None
        near = []
        if point is not None:
            # A cheap bounding box in SQL, then the exact great-circle distance in Python.
            dlat = degrees_of_latitude(radius_m) * 1.01
            dlon = degrees_of_longitude(radius_m, point[0]) * 1.01
            near.append(
                and_(
                    tickets.c.lat.between(point[0] - dlat, point[0] + dlat),
                    tickets.c.long.between(point[1] - dlon, point[1] + dlon),
                )
            )
        if street_key:
            near.append(tickets.c.street == street_key)
        if not near:
            return []
        statement = select(tickets).where(
            tickets.c.status == "open", tickets.c.service_code == service_code, or_(*near)
        )
        with read_transaction(self.engine) as conn:
            rows = [Ticket.from_row(row) for row in conn.execute(statement)]

        by_distance: list[DuplicateCandidate] = []
        by_street: list[DuplicateCandidate] = []
        for ticket in rows:
            if point is not None and ticket.lat is not None and ticket.long is not None:
                distance = haversine_m(point[0], point[1], ticket.lat, ticket.long)
                if distance <= radius_m:
                    by_distance.append(DuplicateCandidate(ticket, distance))
            elif street_key and ticket.street == street_key:
                by_street.append(DuplicateCandidate(ticket, None))
        by_distance.sort(key=lambda c: (c.distance_m or 0.0, c.ticket.id))
        by_street.sort(key=lambda c: c.ticket.requested_datetime, reverse=True)
        return (by_distance + by_street)[:limit]

    def follow(self, ref: str, channel: str, sender_id: str) -> bool:
        """Subscribe a channel identity to a ticket's updates; False if it already followed it."""
        ticket = self._require(ref)
        with write_transaction(self.engine) as conn:
            return self._subscribe(conn, ticket.id, channel, sender_id, self.clock())

    def follow_and_notify(self, ref: str, channel: str, sender_id: str) -> bool:
        """Subscribe a channel identity to a ticket and queue it one notification of the ticket's current state (a
        caller who asked, by voice, for the reference by SMS); False when that identity already followed it."""
        ticket = self._require(ref)
        now = self.clock()
        with write_transaction(self.engine) as conn:
            if not self._subscribe(conn, ticket.id, channel, sender_id, now):
                return False
            payload = {"ticket_ref": ticket.ref, "ticket_state": ticket.state, "status_note": ""}
            key = f"{NOTIFY_KIND}:{ticket.ref}:followed:{channel}:{sender_id}"
            enqueue(conn, NOTIFY_KIND, key, payload, channel, sender_id, now)
        return True

    def _subscribe(self, conn: Connection, ticket_id: int, channel: str, sender_id: str, now: datetime) -> bool:
        return insert_ignoring_conflict(
            conn,
            subscriptions,
            {"ticket_id": ticket_id, "channel": channel, "sender_id": sender_id, "created_at": now},
            ["ticket_id", "channel", "sender_id"],
        )

    # Status changes -----------------------------------------------------------------------------------------

    def set_status(
        self,
        ref: str,
        state: str,
        note: str | None = None,
        actor: str = "staff",
        reason: str | None = None,
        *,
        expected_datetime: datetime | None = None,
    ) -> Ticket:
        """Move a ticket to a French lifecycle state, record it, and queue one notification per follower
        (and, the first time it is closed, the satisfaction question to its creator: see `satisfaction`)."""
        status = open311_status(state)
        if state == "non_retenu" and not (reason or note):
            raise ValueError("a ticket is 'non retenu' for a reason: give one")
        ticket = self._require(ref)
        now = self.clock()
        values: dict[str, object] = {
            "state": state,
            "status": status,
            "state_reason": (reason or note) if state == "non_retenu" else None,
            "updated_datetime": now,
        }
        if note is not None:
            values["status_notes"] = note
        if expected_datetime is not None:
            values["expected_datetime"] = expected_datetime
        with write_transaction(self.engine) as conn:
            conn.execute(update(tickets).where(tickets.c.id == ticket.id).values(**values))
            history_id = conn.execute(
                ticket_history.insert().values(
                    ticket_id=ticket.id,
                    state=state,
                    status=status,
                    note=note,
                    reason=reason,
                    actor=actor,
                    changed_at=now,
                )
            ).inserted_primary_key[0]
            # The citizen-facing sentence is rendered by the rasa side; for a rejection the reason is what they need.
            shown_note = (reason or note) if state == "non_retenu" else note
            payload = {"ticket_ref": ticket.ref, "ticket_state": state, "status_note": shown_note or ""}
            followers = conn.execute(
                select(subscriptions.c.channel, subscriptions.c.sender_id)
                .where(subscriptions.c.ticket_id == ticket.id)
                .order_by(subscriptions.c.id)
            ).all()
            for channel, sender_id in followers:
                key = f"{NOTIFY_KIND}:{ticket.ref}:{history_id}:{channel}:{sender_id}"
                enqueue(conn, NOTIFY_KIND, key, payload, channel, sender_id, now)
            ask_when_closed(conn, ticket, state, [tuple(f) for f in followers], now)
            row = conn.execute(select(tickets).where(tickets.c.id == ticket.id)).one()
        return Ticket.from_row(row)

    # Photos and the external back office ----------------------------------------------------------------------

    def attach_photo(self, ref: str, expected: str, media_url: str | None) -> bool:
        """Replace the ticket's photo reference, only if it still is `expected` (an erasure may have cleared it)."""
        with write_transaction(self.engine) as conn:
            result = conn.execute(
                update(tickets)
                .where(tickets.c.service_request_id == ref, tickets.c.media_url == expected)
                .values(media_url=media_url)
            )
        return result.rowcount == 1

    def record_forward(self, ref: str, *, external_id: str | None = None, token: str | None = None) -> None:
        """Keep the back office's id of a forwarded ticket (or the token it gave until the id is known)."""
        values: dict[str, object] = {}
        if external_id:
            values["external_id"] = external_id[:200]
        if token:
            values["external_token"] = token[:200]
        if values:
            with write_transaction(self.engine) as conn:
                conn.execute(update(tickets).where(tickets.c.service_request_id == ref).values(**values))

    def forwarded_open(self, *, limit: int = MAX_REQUESTS) -> list[Ticket]:
        """Open tickets the back office has (an id or a token), least recently checked first."""
        statement = (
            select(tickets)
            .where(
                tickets.c.status == "open",
                or_(tickets.c.external_id.is_not(None), tickets.c.external_token.is_not(None)),
            )
            .order_by(tickets.c.updated_datetime, tickets.c.id)
            .limit(limit)
        )
        with read_transaction(self.engine) as conn:
            return [Ticket.from_row(row) for row in conn.execute(statement)]

    def record_external_status(self, ref: str, status: str, notes: str | None) -> None:
        """Remember what the back office last said, so only its next change is passed on."""
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(tickets)
                .where(tickets.c.service_request_id == ref)
                .values(external_status=status[:8], external_notes=notes)
            )

    def _require(self, ref: str) -> Ticket:
        ticket = self.get_ticket(ref)
        if ticket is None:
            raise TicketNotFound(ref)
        return ticket


def store_from_settings(settings: Settings | None = None, *, engine: Engine | None = None) -> TicketStore:
    """The ticket store the processes use: DATABASE_URL (or the embedded SQLite file) with the town's prefix."""
    from bot.db import create_engine_for
    from bot.settings import get_settings

    settings = settings or get_settings()
    if engine is None:
        if settings.database_url is None:
            settings.var_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine_for(settings.effective_database_url)
    return TicketStore(
        engine,
        prefix=settings.ticket_prefix,
        timezone=settings.timezone,
        forward_new_tickets=bool(settings.open311_forward_url),
        media=media_store(settings),
        alert_email=settings.alert_email,
        console_url=settings.effective_console_url,
    )
