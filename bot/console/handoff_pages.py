"""The console's live handoff: the queue of citizens waiting for a person, taking one, replying, handing back."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.console.conversations import channel_of, events, events_table_exists
from bot.console.web import HERE, SECURITY_HEADERS, Console, form_value, int_value, staff_guard
from bot.town.handoff import (
    AgentPresence,
    ConversationControl,
    HandoffConflict,
    HandoffError,
    HandoffRequest,
    HandoffStore,
    HandoffSweeper,
    RasaConversationControl,
    create_handoff_schema,
)
from bot.town.privacy import mask_for_review
from bot.town.tickets import TicketStore

LIVE_TYPES = ("user", "bot", "pause", "resume")
INITIAL_MESSAGES = 60
MAX_REPLY_CHARS = 1000
STATUS_LABELS = {"waiting": "en attente", "taken": "pris en charge", "closed": "terminé"}


@dataclass(frozen=True)
class LiveMessage:
    """One line of a live conversation, as the agent reads it."""

    id: int
    kind: str  # user, bot, agent, pause, resume
    text: str
    timestamp: float

    @property
    def who(self) -> str:
        """Who said it, in French."""
        return {"user": "Citoyen", "bot": "Assistant", "agent": "Agent", "pause": "Assistant en pause",
                "resume": "Assistant de retour"}.get(self.kind, self.kind)  # fmt: skip


def live_messages(engine: Engine, sender_id: str, *, after: int = 0, reveal: bool = False) -> list[LiveMessage]:
    """The conversation's messages after event id `after` (the last ones when `after` is 0), masked unless `reveal`."""
    if not events_table_exists(engine):
        return []
    query = select(events.c.id, events.c.type_name, events.c.timestamp, events.c.data).where(
        events.c.sender_id == sender_id, events.c.type_name.in_(LIVE_TYPES), events.c.id > after
    )
    with engine.connect() as conn:
        if after:
            rows = conn.execute(query.order_by(events.c.id).limit(200)).all()
        else:
            rows = list(reversed(conn.execute(query.order_by(events.c.id.desc()).limit(INITIAL_MESSAGES)).all()))
    show = (lambda text: text) if reveal else mask_for_review
    messages = []
    for row in rows:
        try:
            data = json.loads(row.data or "{}")
        except ValueError:
            data = {}
        kind = row.type_name
        if kind == "bot" and (data.get("metadata") or {}).get("handoff") == "agent":
            kind = "agent"
        text = show(str(data.get("text") or "")) if kind in ("user", "bot", "agent") else ""
        messages.append(LiveMessage(row.id, kind, text, float(row.timestamp or 0)))
    return messages


def _last_citizen_text(engine: Engine, sender_id: str) -> str:
    user_lines = [m for m in live_messages(engine, sender_id) if m.kind == "user"]
    text = user_lines[-1].text if user_lines else ""
    return text if len(text) <= 120 else text[:119] + "…"


def queue_view(engine: Engine, store: HandoffStore) -> list[tuple[HandoffRequest, str]]:
    """Open requests with the citizen's last message (masked), oldest first."""
    return [(r, _last_citizen_text(engine, r.sender_id)) for r in store.active()]


def register_handoff_pages(app: Sanic, console: Console, tickets: TicketStore) -> HandoffStore:
    """Mount /handoffs and run the sweeper that gives unanswered requests back to the bot (which offers a call-back).

    `tickets` is the console's ticket store: the handoff tables live on the same database, created after it.
    """
    settings = console.settings
    store = HandoffStore(console.engine)
    presence = AgentPresence(console.engine, presence_seconds=settings.handoff_presence_seconds)
    control: ConversationControl = getattr(app.ctx, "handoff_control", None) or RasaConversationControl(
        settings.rasa_url, settings.rasa_token or _token_file(settings.var_dir / "rasa_token")
    )
    sweeper = HandoffSweeper(store, control, timeout_seconds=settings.handoff_timeout_seconds, clock=console.clock)
    app.blueprint(create_handoff_blueprint(console, store, control, presence))

    @app.before_server_start
    async def _create_handoff_schema(_app: Sanic, _loop: object) -> None:
        await asyncio.to_thread(create_handoff_schema, console.engine)

    @app.after_server_start
    async def _start_sweeper(app: Sanic, _loop: object) -> None:
        app.ctx.handoff_stop = asyncio.Event()
        app.ctx.handoff_task = asyncio.create_task(sweeper.run_forever(app.ctx.handoff_stop))

    @app.before_server_stop
    async def _stop_sweeper(app: Sanic, _loop: object) -> None:
        app.ctx.handoff_stop.set()
        await app.ctx.handoff_task

    return store


def _token_file(path: Any) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def create_handoff_blueprint(
    console: Console, store: HandoffStore, control: ConversationControl, presence: AgentPresence
) -> Blueprint:
    """The staff routes of the live handoff (every one for signed-in staff only, POSTs with the CSRF token).

    The queue page and the live conversation page poll while they are open: each poll renews the presence of an agent
    who is « disponible », so a closed tab makes them absent after HANDOFF_PRESENCE_SECONDS.
    """
    bp = Blueprint(f"console_handoffs_{id(console)}")
    bp.static("/console/static/handoff.js", str(HERE / "static" / "handoff.js"), name="handoff_js")
    staff_page = staff_guard(console)

    @bp.middleware("response")
    async def _headers(_request: Request, resp: HTTPResponse) -> None:
        for name, value in SECURITY_HEADERS.items():
            resp.headers.setdefault(name, value)

    def local(stamp: float | None) -> str:
        return datetime.fromtimestamp(stamp, timezone.utc).astimezone(console.tz).strftime("%H:%M:%S") if stamp else ""

    async def queue_page(request: Request, *, error: str | None = None, status: int = 200) -> HTTPResponse:
        now = console.clock()
        available = await console.run(presence.heartbeat, request.ctx.staff.user.email, now)
        items = await console.run(queue_view, console.engine, store)
        agents = await console.run(presence.available_agents, now)
        waiting = sum(1 for r, _ in items if r.status == "waiting")
        return console.render(
            request, "handoffs.html", status=status, section="handoffs", items=items, error=error,
            labels=STATUS_LABELS, channel_of=channel_of, now=now, handed_back=request.args.get("rendu"),
            available=available, agents=agents, waiting=waiting, presence_changed=request.args.get("presence"),
        )  # fmt: skip

    @bp.get("/handoffs", name="handoffs")
    @staff_page
    async def queue(request: Request) -> HTTPResponse:
        return await queue_page(request)

    @bp.post("/handoffs/presence", name="handoff_presence")
    @staff_page
    async def set_presence(request: Request) -> HTTPResponse:
        """The agent's own « disponible / absent » toggle (nobody sets another agent's presence)."""
        choice = form_value(request, "available")
        if choice not in ("1", "0"):
            return await queue_page(request, error="Choisissez « disponible » ou « absent ».", status=400)
        actor = request.ctx.staff.user.email
        await console.run(presence.set_available, actor, choice == "1", console.clock())
        await console.audit(actor, "handoff_presence", actor, "disponible" if choice == "1" else "absent")
        return response.redirect(f"/handoffs?presence={choice}", status=303)

    async def request_or_404(request: Request, request_id: int) -> HandoffRequest | HTTPResponse:
        found = await console.run(store.get, request_id)
        if found is None:
            return console.render(request, "error.html", status=404, title="Demande introuvable",
                                  message="Aucune demande de contact ne porte ce numéro.")  # fmt: skip
        return found

    def is_mine(request: Request, handoff: HandoffRequest) -> bool:
        return handoff.status == "taken" and handoff.agent == request.ctx.staff.user.email

    async def live_page(
        request: Request, handoff: HandoffRequest, *, error: str | None = None, status: int = 200
    ) -> HTTPResponse:
        mine = is_mine(request, handoff)
        messages = await console.run(live_messages, console.engine, handoff.sender_id, reveal=mine)
        return console.render(
            request, "handoff.html", status=status, section="handoffs", handoff=handoff, messages=messages,
            mine=mine, error=error, labels=STATUS_LABELS, channel_of=channel_of, local=local,
            after=messages[-1].id if messages else 0, sent=request.args.get("envoye") == "1",
        )  # fmt: skip

    @bp.get("/handoffs/<request_id:int>", name="handoff")
    @staff_page
    async def live(request: Request, request_id: int) -> HTTPResponse:
        handoff = await request_or_404(request, request_id)
        return handoff if isinstance(handoff, HTTPResponse) else await live_page(request, handoff)

    @bp.get("/handoffs/<request_id:int>/messages", name="handoff_messages")
    @staff_page
    async def new_messages(request: Request, request_id: int) -> HTTPResponse:
        handoff = await console.run(store.get, request_id)
        if handoff is None:
            return response.json({"error": "not found"}, status=404)
        await console.run(presence.heartbeat, request.ctx.staff.user.email, console.clock())
        after = max(0, int_value(request.args.get("after"), 0))
        messages = await console.run(
            live_messages, console.engine, handoff.sender_id, after=after, reveal=is_mine(request, handoff)
        )
        return response.json({
            "status": handoff.status,
            "messages": [{"id": m.id, "kind": m.kind, "who": m.who, "text": m.text, "time": local(m.timestamp)}
                         for m in messages if m.id > after],
        })  # fmt: skip

    @bp.post("/handoffs/<request_id:int>/take", name="handoff_take")
    @staff_page
    async def take(request: Request, request_id: int) -> HTTPResponse:
        actor = request.ctx.staff.user.email
        try:
            await console.run(store.take, request_id, actor, console.clock())
        except HandoffConflict:
            return await queue_page(request, error="Cette demande a déjà été prise ou n'attend plus.", status=409)
        await console.audit(actor, "handoff_take", str(request_id), None)
        return response.redirect(f"/handoffs/{request_id}", status=303)

    @bp.post("/handoffs/<request_id:int>/reply", name="handoff_reply")
    @staff_page
    async def reply(request: Request, request_id: int) -> HTTPResponse:
        handoff = await request_or_404(request, request_id)
        if isinstance(handoff, HTTPResponse):
            return handoff
        text = (form_value(request, "text") or "").strip()
        if not is_mine(request, handoff):
            return await live_page(request, handoff, error="Prenez d'abord cette demande en charge.", status=409)
        if not text or len(text) > MAX_REPLY_CHARS:
            error = f"Écrivez une réponse de 1 à {MAX_REPLY_CHARS} caractères."
            return await live_page(request, handoff, error=error, status=400)
        try:
            await control.send_agent_text(handoff.sender_id, handoff.channel, text)
        except HandoffError:
            error = "La réponse n'a pas pu être envoyée (serveur de l'assistant injoignable). Réessayez."
            return await live_page(request, handoff, error=error, status=502)
        await console.audit(request.ctx.staff.user.email, "handoff_reply", str(request_id), f"{len(text)} caractères")
        return response.redirect(f"/handoffs/{request_id}?envoye=1#reponse", status=303)

    @bp.post("/handoffs/<request_id:int>/release", name="handoff_release")
    @staff_page
    async def release(request: Request, request_id: int) -> HTTPResponse:
        handoff = await request_or_404(request, request_id)
        if isinstance(handoff, HTTPResponse):
            return handoff
        user = request.ctx.staff.user
        if not (is_mine(request, handoff) or (user.is_admin and handoff.status in ("waiting", "taken"))):
            return await live_page(
                request, handoff, error="Seul l'agent qui a pris la demande peut la rendre.", status=409
            )
        try:
            await control.hand_back(handoff.sender_id, handoff.channel)
        except HandoffError:
            error = "L'assistant n'a pas pu reprendre la conversation (serveur injoignable). Réessayez."
            return await live_page(request, handoff, error=error, status=502)
        try:
            await console.run(store.close, request_id, console.clock(), "handed_back", resumed=True)
        except HandoffConflict:
            pass  # closed meanwhile (timed out): the conversation is resumed either way
        await console.audit(user.email, "handoff_close", str(request_id), "rendu à l'assistant")
        return response.redirect(f"/handoffs?rendu={quote(str(request_id))}", status=303)

    return bp
