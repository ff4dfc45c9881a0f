"""Closed-loop load: N simulated citizens, each running the script turn after turn, through one channel.

Every citizen waits for the whole answer to a message before sending the next one (closed loop), and starts a
new conversation (a new sender) when the script ends. A run stops after `max_seconds` or `max_turns`, whichever
comes first. Nothing here knows how the servers were started: it only needs a base URL.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx


@dataclass(frozen=True)
class Turn:
    """One message of the script, and what kind of work the assistant does for it."""

    text: str
    kind: str  # "rule" (a response), "catalog" (an action reading the town's catalog), "form" (a report form)


# A citizen's visit, in messages the current model answers: greeting, hours, address, a procedure, waste
# collection, the start of a report, thanks. Every catalog turn runs a custom action on the action server.
SCRIPT: tuple[Turn, ...] = (
    Turn("bonjour", "rule"),
    Turn("la mairie est ouverte ?", "catalog"),
    Turn("et son adresse ?", "catalog"),
    Turn("comment faire une carte d'identité ?", "catalog"),
    Turn("quand passe la collecte des poubelles rue Serviez ?", "catalog"),
    Turn("la piscine ferme a quelle heure ?", "catalog"),
    Turn("il y a un nid de poule avenue de lons", "form"),
    Turn("annuler", "form"),
    Turn("merci", "rule"),
)

PARSE_TEXTS: tuple[str, ...] = tuple(t.text for t in SCRIPT)

# What the assistant says when an action failed or timed out (utter_service_unavailable): counted as an error, and
# apart, since a busy machine must never cost a citizen's report (issue 20).
DEGRADED = "momentanément indisponible"


@dataclass
class Sample:
    """One measured turn."""

    kind: str
    seconds: float
    ok: bool
    unavailable: bool = False  # the answer was « momentanément indisponible »


@dataclass
class LoadResult:
    """What one closed-loop run measured."""

    target: str
    concurrency: int
    seconds: float
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def messages(self) -> int:
        """Turns answered without error."""
        return sum(1 for s in self.samples if s.ok)

    @property
    def error_count(self) -> int:
        """Turns that failed (error status, missing answer, timeout)."""
        return sum(1 for s in self.samples if not s.ok)

    @property
    def unavailable_count(self) -> int:
        """Turns answered « momentanément indisponible » (also counted in error_count)."""
        return sum(1 for s in self.samples if s.unavailable)

    @property
    def throughput(self) -> float:
        """Answered messages per second."""
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    def latencies(self, kind: str | None = None) -> list[float]:
        """Latencies in milliseconds of the answered turns (of one kind, or all)."""
        return [s.seconds * 1000 for s in self.samples if s.ok and (kind is None or s.kind == kind)]

    def summary(self, kind: str | None = None) -> dict[str, Any]:
        """Messages/s, percentiles and errors as plain numbers."""
        values = self.latencies(kind)
        return {
            "target": self.target,
            "concurrency": self.concurrency,
            "kind": kind or "all",
            "messages": len(values),
            "errors": self.error_count if kind is None else None,
            "unavailable": self.unavailable_count if kind is None else None,
            "seconds": round(self.seconds, 2),
            "msg_per_s": round(self.throughput, 1) if kind is None else None,
            **{f"p{q}": round(percentile(values, q), 1) if values else None for q in (50, 95, 99)},
            "mean": round(statistics.fmean(values), 1) if values else None,
        }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Budget:
    """When a run stops: after max_seconds or max_turns, whichever comes first."""

    max_seconds: float
    max_turns: int
    started: float = field(default_factory=time.monotonic)
    turns: int = 0

    def spent(self) -> bool:
        """True once the run has used its time or its turns."""
        return self.turns >= self.max_turns or time.monotonic() - self.started >= self.max_seconds

    def take(self) -> bool:
        """Reserve one turn; False once the budget is spent."""
        if self.spent():
            return False
        self.turns += 1
        return True


Conversation = Callable[[Budget, LoadResult], Awaitable[None]]


async def closed_loop(
    target: str, concurrency: int, conversation: Conversation, max_seconds: float, max_turns: int
) -> LoadResult:
    """Run `concurrency` citizens, each looping over conversations, until the budget is spent."""
    result = LoadResult(target, concurrency, 0.0)
    budget = Budget(max_seconds, max_turns)

    async def citizen() -> None:
        while not budget.spent():
            await conversation(budget, result)

    started = time.perf_counter()
    await asyncio.gather(*(citizen() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


def rest_conversation(
    url: str, script: Sequence[Turn] = SCRIPT, require_answer: bool = True, timeout: float = 60.0
) -> Conversation:
    """A conversation through Rasa's REST channel: one POST per message, the answer is the response body.

    Each conversation is one citizen on a connection of their own (kept alive for its turns), as on a town's
    website: the rasa workers, which share one listening socket, take new connections in turn, whichever is free.
    A connection pool shared by all simulated citizens pinned them for the whole run to whichever worker had
    accepted the pool's connections (seen: 72 % of the messages on one of two workers, and half the throughput).
    The client is aiohttp, the lightest at hand: the load generator shares the machine's two cores with the servers.

    `require_answer=False` for the plain `rasa run` floor, whose custom actions (no action server) answer nothing.
    """

    async def run(budget: Budget, result: LoadResult) -> None:
        sender = f"bench-{uuid.uuid4().hex[:12]}"
        async with _citizen_session(timeout) as session:
            for turn in script:
                if not budget.take():
                    return
                started = time.perf_counter()
                unavailable = False
                try:
                    async with session.post(f"{url}/webhooks/rest/webhook",
                                            json={"sender": sender, "message": turn.text}) as response:  # fmt: skip
                        status, body = response.status, await response.text()
                    replies = json.loads(body) if status == 200 else None
                    ok = isinstance(replies, list) and (bool(replies) or not require_answer)
                    unavailable = any(DEGRADED in str(r.get("text", "")) for r in replies or [])
                    ok = ok and not unavailable
                    if not ok:
                        result.errors.append(f"REST {status} on {turn.text!r}: {body[:120]}")
                except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
                    ok = False
                    result.errors.append(f"REST {type(error).__name__} on {turn.text!r}")
                result.samples.append(Sample(turn.kind, time.perf_counter() - started, ok, unavailable))

    return run


def parse_conversation(url: str, token: str, texts: Sequence[str] = PARSE_TEXTS, timeout: float = 60.0) -> Conversation:
    """The NLU floor: the same messages through plain `rasa run`'s /model/parse (NLU only, no dialogue, no store).

    Same client as `rest_conversation` (one connection per conversation), so that the ratios compare servers only.
    """

    async def run(budget: Budget, result: LoadResult) -> None:
        async with _citizen_session(timeout) as session:
            for text in texts:
                if not budget.take():
                    return
                started = time.perf_counter()
                try:
                    async with session.post(f"{url}/model/parse", params={"token": token},
                                            json={"text": text}) as response:  # fmt: skip
                        await response.read()
                        ok = response.status == 200
                    if not ok:
                        result.errors.append(f"parse {response.status}")
                except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                    ok = False
                    result.errors.append(f"parse {type(error).__name__}")
                result.samples.append(Sample("parse", time.perf_counter() - started, ok))

    return run


VOICE_PATH = "/webhooks/voice/webhook"


def voice_conversation(
    url: str, auth_token: str, public_url: str | None = None, script: Sequence[Turn] = SCRIPT, timeout: float = 60.0
) -> Conversation:
    """A phone call through the voice channel: the call starts (the greeting), then one signed turn per message.

    Each turn is posted as Twilio posts it: a form with the CallSid, the caller's number, `SpeechResult` and
    `Confidence`, to the `<Gather action>` URL of the previous answer (`?turn=N`), signed with twilio's own
    RequestValidator against the server's PUBLIC_URL (`public_url`, by default the URL called). A turn is answered
    when the TwiML comes back with something said; the call start is not measured (it is not a citizen's turn).
    """
    import xml.etree.ElementTree as ET

    from twilio.request_validator import RequestValidator

    validator = RequestValidator(auth_token)
    signed_base = (public_url or url).rstrip("/")
    calls = itertools.count(1)

    async def post(session: aiohttp.ClientSession, form: dict[str, str], turn: int) -> tuple[int, str]:
        query = f"?turn={turn}" if turn else ""
        signature = validator.compute_signature(signed_base + VOICE_PATH + query, form)
        async with session.post(f"{url}{VOICE_PATH}{query}", data=form,
                                headers={"X-Twilio-Signature": signature}) as response:  # fmt: skip
            return response.status, await response.text()

    async def run(budget: Budget, result: LoadResult) -> None:
        number = next(calls)
        form = {"CallSid": "CA" + uuid.uuid4().hex, "AccountSid": "AC" + "0" * 32, "To": "+33536490000",
                "From": f"+3353649{number % 10000:04d}", "CallStatus": "in-progress"}  # fmt: skip
        async with _citizen_session(timeout) as session:
            try:
                status, _ = await post(session, form, 0)
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                status = 0
                result.errors.append(f"voice {type(error).__name__} at the call start")
            if status != 200:
                if budget.take():
                    result.samples.append(Sample("connect", 0.0, False))
                result.errors.append(f"voice {status} at the call start")
                return
            for index, turn in enumerate(script, start=1):
                if not budget.take():
                    return
                started = time.perf_counter()
                unavailable = False
                try:
                    status, body = await post(session, {**form, "SpeechResult": turn.text, "Confidence": "0.95"}, index)
                    said = " ".join(s.text or "" for s in ET.fromstring(body).iter("Say")) if status == 200 else ""
                    unavailable = DEGRADED in said
                    ok = bool(said.strip()) and not unavailable
                    if not ok:
                        result.errors.append(f"voice {status} on {turn.text!r}: {body[:120]}")
                except (aiohttp.ClientError, asyncio.TimeoutError, ET.ParseError) as error:
                    ok = False
                    result.errors.append(f"voice {type(error).__name__} on {turn.text!r}")
                result.samples.append(Sample(turn.kind, time.perf_counter() - started, ok, unavailable))

    return run


def _citizen_session(timeout: float) -> aiohttp.ClientSession:
    """One simulated citizen's HTTP client: a single connection, kept alive between its messages."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), timeout=aiohttp.ClientTimeout(total=timeout))


async def replies_per_turn(client: httpx.AsyncClient, url: str, script: Sequence[Turn] = SCRIPT) -> list[int]:
    """How many messages the assistant sends for each turn of the script (the web chat sends them one by one)."""
    sender = f"bench-calibration-{uuid.uuid4().hex[:8]}"
    counts = []
    for turn in script:
        response = await client.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": turn.text})
        counts.append(len(response.json()) if response.status_code == 200 else 0)
    return counts


def allow_websocket_with_old_aiohttp() -> None:
    """python-engineio 4.15 builds an aiohttp.ClientWSTimeout (aiohttp >= 3.10); rasa pins aiohttp 3.9.

    aiohttp 3.9's ws_connect takes the close timeout as a plain number, which is what this stand-in returns.
    Client side only (the benchmark's simulated browsers); the servers are untouched.
    """
    import aiohttp

    if not hasattr(aiohttp, "ClientWSTimeout"):
        aiohttp.ClientWSTimeout = lambda ws_close=None, ws_receive=None: ws_close or 10.0  # type: ignore[attr-defined]


def socketio_conversation(
    url: str,
    expected: Sequence[int],
    script: Sequence[Turn] = SCRIPT,
    transport: str = "websocket",
    think_seconds: float = 0.0,
    reply_timeout: float = 15.0,
) -> Conversation:
    """A conversation through the web chat's socket.io channel: emit user_uttered, wait for every bot_uttered.

    A turn ends when the assistant has sent as many messages as it does on the REST channel (`expected`).
    """
    import socketio

    counter = itertools.count()

    async def run(budget: Budget, result: LoadResult) -> None:
        client = socketio.AsyncClient(reconnection=False)
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        client.on("bot_uttered", lambda data: inbox.put_nowait(data))
        confirmed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        client.on("session_confirm", lambda data: confirmed.done() or confirmed.set_result(data))
        try:
            await client.connect(url, transports=[transport], socketio_path="/socket.io", wait_timeout=reply_timeout)
            session_id = f"bench{next(counter)}{uuid.uuid4().hex[:10]}"
            await client.emit("session_request", {"session_id": session_id})
            await asyncio.wait_for(confirmed, reply_timeout)
        except (socketio.exceptions.SocketIOError, asyncio.TimeoutError, OSError) as error:
            result.errors.append(f"socket.io connect {type(error).__name__}: {error}")
            if budget.take():
                result.samples.append(Sample("connect", 0.0, False))
            await _hang_up(client)
            return
        try:
            for turn, count in zip(script, expected, strict=True):
                if not budget.take():
                    return
                started = time.perf_counter()
                ok, unavailable = True, False
                await client.emit("user_uttered", {"message": turn.text, "session_id": session_id})
                try:
                    for _ in range(max(1, count)):
                        message = await asyncio.wait_for(inbox.get(), reply_timeout)
                        if DEGRADED in str(message.get("text", "")):
                            ok, unavailable = False, True
                            result.errors.append(f"socket.io: degraded answer to {turn.text!r}")
                except asyncio.TimeoutError:
                    ok = False
                    result.errors.append(f"socket.io: no complete answer to {turn.text!r} in {reply_timeout:.0f} s")
                result.samples.append(Sample(turn.kind, time.perf_counter() - started, ok, unavailable))
                if not ok:
                    return
                if think_seconds:
                    await asyncio.sleep(think_seconds)
        finally:
            await _hang_up(client)

    return run


async def _hang_up(client: Any) -> None:
    """Close a socket.io client at once (a polite polling disconnect waits for the long poll)."""
    try:
        await client.eio.disconnect(abort=True)
    except Exception:  # noqa: BLE001 - closing a client that may never have connected
        pass
    if client.eio.http is not None and not client.eio.http.closed:
        await client.eio.http.close()
