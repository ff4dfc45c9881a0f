"""Human handoff: live when an agent is present in the console, a call-back ticket otherwise or when nobody answers.

Presence: an agent marks themself « disponible » in the console, and their hand-over page renews it while it polls
(`AgentPresence`); an agent whose page stopped polling for `presence_seconds` counts as absent. Presence lives in
the database, so the action server, the console and any other process see the same agents.

The action server records a request and pauses the conversation (Rasa's `ConversationPaused`: the citizen's
messages are still stored but the bot predicts nothing). Staff take it in the console, reply through the rasa
server's HTTP API and hand back (`ConversationResumed`). A sweeper in the console closes requests nobody took within
`handoff_timeout_seconds` and resumes those conversations: the assistant then asks the citizen for the number to
call and their question, and records the call-back ticket (actions/callback.py).
"""

from __future__ import annotations

import asyncio
import logging
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table, select, update
from sqlalchemy.engine import Engine

from bot.db import create_tables, read_transaction, write_transaction
from bot.town.catalog import PARIS, HolidayCalendar, french_holidays
from bot.town.catalog.formatting import format_date, format_day, format_time
from bot.town.catalog.hours import hours_on, local_datetime, status_at
from bot.town.catalog.models import Service
from bot.town.tickets.model import TicketDraft

log = logging.getLogger(__name__)

TOWN_HALL = "mairie"  # whose opening hours say when staff call back
CALLBACK_CATEGORY = "autre"  # call-back tickets are « autre » tickets whose description starts with:
CALLBACK_DESCRIPTION = "Demande de rappel"
CALLBACK_NOTICE = timedelta(minutes=30)  # an opening range ending sooner than this is too short to call back in
DEFAULT_TAKE_SECONDS = 180.0  # see estimate_wait_minutes
MIN_WAIT_SAMPLES = 3
WAIT_HISTORY = timedelta(days=7)
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
    Column("callback_ref", String(32)),  # the call-back ticket the citizen left when nobody took the request
    Column("resumed", Boolean, nullable=False, default=False),  # conversation resumed and the citizen told
)


# An agent's « disponible / absent » toggle and the last time their console page polled (UTC epoch seconds).
agent_presence = Table(
    "agent_presence",
    metadata,
    Column("agent", String(254), primary_key=True),
    Column("available", Boolean, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("changed_at", Float, nullable=False),
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
        """Requests closed for lack of an agent whose conversation is still to be resumed."""
        with read_transaction(self.engine) as conn:
            rows = conn.execute(
                select(handoff_requests)
                .where(handoff_requests.c.outcome == "no_agent", handoff_requests.c.resumed.is_(False))
                .order_by(handoff_requests.c.id)
            ).all()
        return [HandoffRequest.from_row(r) for r in rows]

    def set_callback(self, request_id: int, ref: str) -> None:
        """Remember the call-back ticket the citizen left after this request."""
        with write_transaction(self.engine) as conn:
            conn.execute(update(handoff_requests).where(handoff_requests.c.id == request_id).values(callback_ref=ref))

    def mark_resumed(self, request_id: int) -> None:
        """The conversation was resumed and the citizen told."""
        with write_transaction(self.engine) as conn:
            conn.execute(update(handoff_requests).where(handoff_requests.c.id == request_id).values(resumed=True))

    def queue_place(self, request_id: int) -> int:
        """The request's place among the waiting ones (1: next to be taken), or 0 when it is not waiting."""
        with read_transaction(self.engine) as conn:
            mine = conn.execute(select(handoff_requests).where(handoff_requests.c.id == request_id)).first()
            if mine is None or mine.status != "waiting":  # type: ignore[attr-defined]
                return 0
            ahead = conn.execute(
                select(handoff_requests.c.id).where(
                    handoff_requests.c.status == "waiting",
                    (handoff_requests.c.requested_at < mine.requested_at)  # type: ignore[attr-defined]
                    | (
                        (handoff_requests.c.requested_at == mine.requested_at)  # type: ignore[attr-defined]
                        & (handoff_requests.c.id < request_id)
                    ),
                )
            ).all()
        return len(ahead) + 1

    def recent_take_seconds(self, now: float, *, window: timedelta = WAIT_HISTORY, limit: int = 50) -> list[float]:
        """How long the last requests taken within `window` waited for an agent, newest first."""
        with read_transaction(self.engine) as conn:
            rows = conn.execute(
                select(handoff_requests.c.requested_at, handoff_requests.c.taken_at)
                .where(
                    handoff_requests.c.taken_at.is_not(None),
                    handoff_requests.c.taken_at >= now - window.total_seconds(),
                )
                .order_by(handoff_requests.c.taken_at.desc())
                .limit(limit)
            ).all()
        return [max(0.0, float(taken) - float(asked)) for asked, taken in rows]


class AgentPresence:
    """Which agents are « disponible » in the console right now (synchronous; async callers use a thread).

    An agent is available when they switched themself to « disponible » and their console page polled within the
    last `presence_seconds`: closing the tab, losing the network or a crashed browser makes them absent by itself.
    """

    def __init__(self, engine: Engine, *, presence_seconds: float) -> None:
        self.engine = engine
        self.presence_seconds = presence_seconds

    def set_available(self, agent: str, available: bool, now: float) -> None:
        """The agent's toggle; switching on also counts as a poll."""
        with write_transaction(self.engine) as conn:
            changed = conn.execute(
                update(agent_presence)
                .where(agent_presence.c.agent == agent)
                .values(available=available, last_seen=now, changed_at=now)
            )
            if changed.rowcount != 1:
                conn.execute(
                    agent_presence.insert().values(agent=agent, available=available, last_seen=now, changed_at=now)
                )

    def heartbeat(self, agent: str, now: float) -> bool:
        """The agent's page polled: renew their presence if they are « disponible »; whether they are."""
        with write_transaction(self.engine) as conn:
            result = conn.execute(
                update(agent_presence)
                .where(agent_presence.c.agent == agent, agent_presence.c.available.is_(True))
                .values(last_seen=now)
            )
        return result.rowcount == 1

    def is_available(self, agent: str, now: float) -> bool:
        """Whether this agent counts as present now."""
        return agent in self.available_agents(now)

    def available_agents(self, now: float) -> list[str]:
        """The agents present now, by name."""
        with read_transaction(self.engine) as conn:
            return list(
                conn.execute(
                    select(agent_presence.c.agent)
                    .where(
                        agent_presence.c.available.is_(True),
                        agent_presence.c.last_seen >= now - self.presence_seconds,
                    )
                    .order_by(agent_presence.c.agent)
                ).scalars()
            )


def switchboard_open(catalog: Any, now: datetime, calendar: HolidayCalendar | None = None) -> bool:
    """Whether the town hall's reception answers the phone at `now` (its opening hours in the catalog): a phone
    call is put through only then. Web chat hand-overs follow the agents' presence instead (AgentPresence)."""
    return status_at(catalog.service(TOWN_HALL), now, calendar).is_open


def estimate_wait_minutes(place: int, recent_take_seconds: list[float], agents: int) -> int:
    """A realistic wait, in whole minutes (at least 1), for the citizen at `place` in the queue.

    Each citizen ahead (and the citizen themself) takes the median time recent requests waited before an agent took
    them; with fewer than MIN_WAIT_SAMPLES recent hand-overs, DEFAULT_TAKE_SECONDS (three minutes: reading the
    conversation and answering a first message) stands in. Several present agents share the queue.
    """
    per_citizen = (
        statistics.median(recent_take_seconds) if len(recent_take_seconds) >= MIN_WAIT_SAMPLES else DEFAULT_TAKE_SECONDS
    )
    seconds = max(1, place) * per_citizen / max(1, agents)
    return max(1, math.ceil(seconds / 60))


# --- when a person can answer, and when a call-back is due ------------------------------------------------


@dataclass(frozen=True)
class CallbackWindow:
    """When staff call back: within one opening range of the town hall (Europe/Paris)."""

    start: datetime
    end: datetime

    def phrase(self, now: datetime) -> str:
        """« aujourd'hui avant 12h », « demain matin entre 8h30 et 12h », « lundi après-midi entre 13h30 et 17h »."""
        local_now = now.astimezone(PARIS)
        if self.start <= local_now:
            return f"aujourd'hui avant {format_time(self.end)}"
        day = self.start.date()
        offset = (day - local_now.date()).days
        part = "matin" if self.start.hour < 12 else "après-midi"
        when = f"{format_day(day, local_now.date())} {part}" if offset < 7 else f"le {format_date(day)} ({part})"
        return f"{when} entre {format_time(self.start)} et {format_time(self.end)}"


def callback_window(
    town_hall: Service, now: datetime, calendar: HolidayCalendar | None = None, *, notice: timedelta = CALLBACK_NOTICE
) -> CallbackWindow | None:
    """The first opening range of the town hall that still leaves `notice` to call back; None when it never opens."""
    calendar = calendar or french_holidays()
    local = now.astimezone(PARIS)
    for offset in range(370):
        day = local.date() + timedelta(days=offset)
        for r in hours_on(town_hall, day, calendar).ranges:
            start, end = local_datetime(day, r.start), local_datetime(day, r.end)
            if end - notice >= local:
                return CallbackWindow(max(start, local), end)
    return None


def callback_phrase(window: CallbackWindow | None, now: datetime) -> str:
    """When staff call back, as the citizen reads it; « dès que possible » when the town hall has no opening left."""
    return window.phrase(now) if window is not None else "dès que possible"


def callback_draft(
    channel: str, sender_id: str, idempotency_key: str, *, phone: str, question: str, expected: datetime | None
) -> TicketDraft:
    """The ticket of a call-back request: the number to call (its contact, revealed to staff on demand, audited),
    the citizen's question, and when staff are expected to call."""
    return TicketDraft(
        service_code=CALLBACK_CATEGORY,
        description=f"{CALLBACK_DESCRIPTION} : {question}",
        channel=channel,
        sender_id=sender_id,
        contact=phone,
        idempotency_key=idempotency_key,
        expected_datetime=expected,
    )


def is_callback(description: str | None, service_code: str | None) -> bool:
    """Whether a ticket is a call-back request."""
    return service_code == CALLBACK_CATEGORY and (description or "").startswith(CALLBACK_DESCRIPTION)


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
    """Closes requests that waited too long and gives the conversation back to the bot, which offers a call-back."""

    def __init__(
        self,
        store: HandoffStore,
        control: ConversationControl,
        *,
        timeout_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.control = control
        self.timeout_seconds = timeout_seconds
        self.clock = clock  # epoch seconds, like the requests' times: when a request has waited too long

    async def run_once(self) -> list[HandoffRequest]:
        """Expire overdue requests and resume their conversations; returns those finished now.

        A conversation the rasa server could not resume yet is retried at the next pass (`resumed` stays false).
        """
        await asyncio.to_thread(self.store.expire_waiting, self.clock(), self.timeout_seconds)
        finished = []
        for request in await asyncio.to_thread(self.store.unfinished_callbacks):
            try:
                await self.control.hand_back(request.sender_id, request.channel)
            except Exception as error:
                log.warning("handoff %s: conversation not resumed yet: %s", request.id, error)
                continue
            await asyncio.to_thread(self.store.mark_resumed, request.id)
            finished.append(request)
        return finished

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
