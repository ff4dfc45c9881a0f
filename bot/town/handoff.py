"""Human handoff: requests queued for staff during opening hours, call-back tickets otherwise or when nobody answers.

The action server records a request and pauses the conversation (Rasa's `ConversationPaused`: the citizen's
messages are still stored but the bot predicts nothing). Staff take it in the console, reply through the rasa
server's HTTP API and hand back (`ConversationResumed`). A sweeper in the console turns requests nobody took within
`handoff_timeout_seconds` into call-back tickets and resumes those conversations.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table, select, update
from sqlalchemy.engine import Engine

from bot.db import create_tables, read_transaction, write_transaction
from bot.town.catalog import PARIS, Catalog, HolidayCalendar, french_holidays, status_at
from bot.town.tickets.model import TicketDraft
from bot.town.tickets.store import TicketStore

log = logging.getLogger(__name__)

TOWN_HALL = "mairie"  # whose opening hours say whether a person can answer now
CALLBACK_BUSINESS_DAYS = 2  # « un agent vous répondra sous 2 jours ouvrés » (domain.yml says the same)
CALLBACK_CATEGORY = "autre"
CALLBACK_DESCRIPTION = "Demande de rappel"
UPDATE_INTENT = "EXTERNAL_handoff_update"  # tells the citizen how the handoff ended (action_handoff_update)
OPEN_STATUSES = ("waiting", "taken")

metadata = MetaData()

# Times are UTC epoch seconds, like the console's tables and Rasa's events.
handoff_requests = Table(
    "handoff_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("channel", String(40), nullable=False),
    Column("status", String(10), nullable=False, index=True),  # waiting -> taken -> closed (or waiting -> closed)
    Column("requested_at", Float, nullable=False),
    Column("agent", String(254)),
    Column("taken_at", Float),
    Column("closed_at", Float),
    Column("outcome", String(20)),  # handed_back, no_agent
    Column("callback_ref", String(32)),  # the call-back ticket when nobody took the request
    Column("resumed", Boolean, nullable=False, default=False),  # conversation resumed and the citizen told
)


def create_handoff_schema(engine: Engine) -> None:
    """Create the handoff table if it is missing (safe at every start)."""
    create_tables(metadata, engine)


@dataclass(frozen=True)
class HandoffRequest:
    """A citizen's request to talk to a person."""

    id: int
    sender_id: str
    channel: str
    status: str
    requested_at: float
    agent: str | None = None
    taken_at: float | None = None
    closed_at: float | None = None
    outcome: str | None = None
    callback_ref: str | None = None
    resumed: bool = False

    @classmethod
    def from_row(cls, row: Any) -> HandoffRequest:
        """Build from a `handoff_requests` row."""
        return cls(**{k: v for k, v in row._mapping.items()})


class HandoffConflict(RuntimeError):
    """The request is no longer in the state the caller expected (another agent took it, it timed out...)."""


class HandoffStore:
    """The handoff queue on one engine (synchronous; async callers use `asyncio.to_thread`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def open_request(self, sender_id: str, channel: str, now: float) -> HandoffRequest:
        """Queue a request for this conversation, or return the one already waiting or taken."""
        with write_transaction(self.engine) as conn:
            row = conn.execute(self._open_of(sender_id)).first()
            if row is None:
                conn.execute(
                    handoff_requests.insert().values(
                        sender_id=sender_id, channel=channel, status="waiting", requested_at=now, resumed=False
                    )
                )
                row = conn.execute(self._open_of(sender_id)).one()
        return HandoffRequest.from_row(row)

    @staticmethod
    def _open_of(sender_id: str) -> Any:
        return (
            select(handoff_requests)
            .where(handoff_requests.c.sender_id == sender_id, handoff_requests.c.status.in_(OPEN_STATUSES))
            .order_by(handoff_requests.c.id.desc())
            .limit(1)
        )

    def get(self, request_id: int) -> HandoffRequest | None:
        """The request with this id, or None."""
        with read_transaction(self.engine) as conn:
            row = conn.execute(select(handoff_requests).where(handoff_requests.c.id == request_id)).first()
        return HandoffRequest.from_row(row) if row else None

    def active(self) -> list[HandoffRequest]:
        """Requests waiting for an agent or being answered, oldest first."""
        with read_transaction(self.engine) as conn:
            rows = conn.execute(
                select(handoff_requests)
                .where(handoff_requests.c.status.in_(OPEN_STATUSES))
                .order_by(handoff_requests.c.requested_at, handoff_requests.c.id)
            ).all()
        return [HandoffRequest.from_row(r) for r in rows]

    def latest_closed(self, sender_id: str) -> HandoffRequest | None:
        """The last finished request of a conversation (to tell the citizen how it ended)."""
        with read_transaction(self.engine) as conn:
            row = conn.execute(
                select(handoff_requests)
                .where(handoff_requests.c.sender_id == sender_id, handoff_requests.c.status == "closed")
                .order_by(handoff_requests.c.closed_at.desc(), handoff_requests.c.id.desc())
                .limit(1)
            ).first()
        return HandoffRequest.from_row(row) if row else None

    def take(self, request_id: int, agent: str, now: float) -> HandoffRequest:
        """An agent takes a waiting request; HandoffConflict if it is not waiting any more."""
        return self._move(request_id, ("waiting",), status="taken", agent=agent, taken_at=now)

    def close(self, request_id: int, now: float, outcome: str, *, resumed: bool = False) -> HandoffRequest:
        """Finish a waiting or taken request."""
        return self._move(request_id, OPEN_STATUSES, status="closed", closed_at=now, outcome=outcome, resumed=resumed)

    def _move(self, request_id: int, expected: tuple[str, ...], **values: Any) -> HandoffRequest:
        with write_transaction(self.engine) as conn:
            result = conn.execute(
                update(handoff_requests)
                .where(handoff_requests.c.id == request_id, handoff_requests.c.status.in_(expected))
                .values(**values)
            )
            if result.rowcount != 1:
                raise HandoffConflict(f"handoff request {request_id} is not {' or '.join(expected)}")
            row = conn.execute(select(handoff_requests).where(handoff_requests.c.id == request_id)).one()
        return HandoffRequest.from_row(row)

    def expire_waiting(self, now: float, timeout_seconds: float) -> list[HandoffRequest]:
        """Close, as "no_agent", the requests that waited longer than the timeout; returns those closed now."""
        with write_transaction(self.engine) as conn:
            ids = (
                conn.execute(
                    select(handoff_requests.c.id).where(
                        handoff_requests.c.status == "waiting", handoff_requests.c.requested_at <= now - timeout_seconds
                    )
                )
                .scalars()
                .all()
            )
            expired = []
            for request_id in ids:
                result = conn.execute(
                    update(handoff_requests)
                    .where(handoff_requests.c.id == request_id, handoff_requests.c.status == "waiting")
                    .values(status="closed", closed_at=now, outcome="no_agent", resumed=False)
                )
                if result.rowcount == 1:
                    expired.append(request_id)
            rows = conn.execute(select(handoff_requests).where(handoff_requests.c.id.in_(expired))).all()
        return [HandoffRequest.from_row(r) for r in rows]

    def unfinished_callbacks(self) -> list[HandoffRequest]:
        """Requests closed for lack of an agent whose ticket or resumption is still to be done."""
        with read_transaction(self.engine) as conn:
            rows = conn.execute(
                select(handoff_requests)
                .where(handoff_requests.c.outcome == "no_agent", handoff_requests.c.resumed.is_(False))
                .order_by(handoff_requests.c.id)
            ).all()
        return [HandoffRequest.from_row(r) for r in rows]

    def set_callback(self, request_id: int, ref: str) -> None:
        """Remember the call-back ticket of a request."""
        with write_transaction(self.engine) as conn:
            conn.execute(update(handoff_requests).where(handoff_requests.c.id == request_id).values(callback_ref=ref))

    def mark_resumed(self, request_id: int) -> None:
        """The conversation was resumed and the citizen told."""
        with write_transaction(self.engine) as conn:
            conn.execute(update(handoff_requests).where(handoff_requests.c.id == request_id).values(resumed=True))


# --- when a person can answer, and when a call-back is due ------------------------------------------------


def staff_available(catalog: Catalog, now: datetime, calendar: HolidayCalendar | None = None) -> bool:
    """Whether the town hall is open at `now`, so a person can take the conversation."""
    return status_at(catalog.service(TOWN_HALL), now, calendar).is_open


def callback_due(
    now: datetime, business_days: int = CALLBACK_BUSINESS_DAYS, calendar: HolidayCalendar | None = None
) -> date:
    """The day by which staff call back: `business_days` working days after today (weekends, holidays skipped)."""
    calendar = calendar or french_holidays()
    day, left = now.astimezone(PARIS).date(), business_days
    while left > 0:
        day += timedelta(days=1)
        if day.weekday() < 5 and calendar.holiday_name(day) is None:
            left -= 1
    return day


def callback_draft(channel: str, sender_id: str, idempotency_key: str, due: date) -> TicketDraft:
    """The ticket of a call-back request: answered on the channel the citizen used, by the end of `due`."""
    return TicketDraft(
        service_code=CALLBACK_CATEGORY,
        description=CALLBACK_DESCRIPTION,
        channel=channel,
        sender_id=sender_id,
        idempotency_key=idempotency_key,
        expected_datetime=datetime(due.year, due.month, due.day, 17, 0, tzinfo=PARIS),
    )


# --- talking to the conversation through the rasa server ----------------------------------------------------


class ConversationControl(Protocol):
    """What the console does to a conversation on the rasa server."""

    async def send_agent_text(self, sender_id: str, channel: str, text: str) -> None:
        """Deliver an agent's message on the citizen's channel (and record it in the conversation)."""
        ...

    async def hand_back(self, sender_id: str, channel: str) -> None:
        """Resume the conversation so the bot answers again, and let it tell the citizen how the handoff ended."""
        ...


class HandoffError(RuntimeError):
    """The rasa server did not accept the call; nothing was changed on the console's side."""


class RasaConversationControl:
    """`ConversationControl` over the rasa server's HTTP API (`--enable-api` with a token).

    An agent's text is appended as a `bot` event with `execute_side_effects=true`: the server records it and sends
    it through the channel's output even while the conversation is paused. `trigger_intent` would not do: on a
    paused tracker Rasa logs the intent but runs no prediction, so no response would be sent.
    """

    def __init__(self, rasa_url: str, token: str | None, *, client: httpx.AsyncClient | None = None) -> None:
        self.rasa_url = rasa_url.rstrip("/")
        self.token = token
        self._client = client

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10.0)
        return self._client

    async def _post(self, sender_id: str, path: str, body: Any, **params: str) -> None:
        # Sanic hands the rasa server the path undecoded: an encoded ":" would name another conversation.
        url = f"{self.rasa_url}/conversations/{quote(sender_id, safe=':')}/{path}"
        if self.token:
            params["token"] = self.token
        try:
            response = await self._http().post(url, params=params, json=body)
        except httpx.HTTPError as error:
            raise HandoffError(f"rasa server unreachable: {error}") from error
        if not response.is_success:
            raise HandoffError(f"rasa server answered {response.status_code}: {response.text[:200]}")

    async def send_agent_text(self, sender_id: str, channel: str, text: str) -> None:
        """POST tracker/events with a bot event, executing its side effect (the send) on `channel`."""
        event = {"event": "bot", "text": text, "timestamp": time.time(), "metadata": {"handoff": "agent"}}
        await self._post(sender_id, "tracker/events", event, execute_side_effects="true", output_channel=channel)

    async def hand_back(self, sender_id: str, channel: str) -> None:
        """Append ConversationResumed (and action_listen, so rules match again), then trigger the update intent."""
        events = [{"event": "resume"}, {"event": "action", "name": "action_listen"}]
        await self._post(sender_id, "tracker/events", events)
        await self._post(sender_id, "trigger_intent", {"name": UPDATE_INTENT}, output_channel=channel)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


@dataclass
class FakeConversationControl:
    """Records what would be sent; fails the next `fail_times` calls."""

    fail_times: int = 0
    texts: list[tuple[str, str, str]] = field(default_factory=list)
    handed_back: list[tuple[str, str]] = field(default_factory=list)

    def _maybe_fail(self) -> None:
        if self.fail_times > 0:
            self.fail_times -= 1
            raise HandoffError("fake failure")

    async def send_agent_text(self, sender_id: str, channel: str, text: str) -> None:
        """Record the text."""
        self._maybe_fail()
        self.texts.append((sender_id, channel, text))

    async def hand_back(self, sender_id: str, channel: str) -> None:
        """Record the hand back."""
        self._maybe_fail()
        self.handed_back.append((sender_id, channel))


# --- requests nobody took ---------------------------------------------------------------------------------


class HandoffSweeper:
    """Turns requests that waited too long into call-back tickets and gives the conversation back to the bot."""

    def __init__(
        self,
        store: HandoffStore,
        tickets: TicketStore,
        control: ConversationControl,
        *,
        timeout_seconds: float,
        clock: Callable[[], float] = time.time,
        town_now: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.tickets = tickets
        self.control = control
        self.timeout_seconds = timeout_seconds
        self.clock = clock  # epoch seconds, like the requests' times: when a request has waited too long
        self.town_now = town_now or (lambda: datetime.fromtimestamp(self.clock(), timezone.utc))  # the call-back day

    async def run_once(self) -> list[HandoffRequest]:
        """Expire overdue requests, write their tickets, resume their conversations; returns those finished now."""
        await asyncio.to_thread(self.store.expire_waiting, self.clock(), self.timeout_seconds)
        finished = []
        for request in await asyncio.to_thread(self.store.unfinished_callbacks):
            try:
                if request.callback_ref is None:
                    await asyncio.to_thread(self._write_ticket, request)
                await self.control.hand_back(request.sender_id, request.channel)
            except Exception as error:  # retried at the next pass; the ticket, once written, is never lost
                log.warning("handoff %s: call-back not finished yet: %s", request.id, error)
                continue
            await asyncio.to_thread(self.store.mark_resumed, request.id)
            finished.append(request)
        return finished

    def _write_ticket(self, request: HandoffRequest) -> None:
        due = callback_due(self.town_now())
        draft = callback_draft(request.channel, request.sender_id, f"handoff:{request.id}", due)
        self.store.set_callback(request.id, self.tickets.create_ticket(draft).ref)

    async def run_forever(self, stop: asyncio.Event, *, interval_seconds: float = 5.0) -> None:
        """Sweep until `stop` is set; a failing pass is logged and the loop goes on."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("handoff sweep failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
            except asyncio.TimeoutError:
                pass
