"""The console's ticket pages: a filtered, paginated list, a ticket with its history, and the status change form."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import quote, urlencode

from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import case, func, or_, select

from bot.console.conversations import day_bounds
from bot.console.media import MEDIA_ROUTE, create_media_blueprint
from bot.console.web import SECURITY_HEADERS, Console, date_value, form_value, int_value, staff_guard
from bot.town.handoff import is_callback
from bot.town.media import media_name, media_signer, media_store
from bot.town.tickets import PROBLEM_TYPES, STATES, Ticket, TicketNotFound, TicketStore, create_schema
from bot.town.tickets.fallback import fallback_key
from bot.town.tickets.held import HeldMessages
from bot.town.tickets.intake import parse_contact, pending_photo
from bot.town.tickets.location import normalise_street
from bot.town.tickets.outbox import ALERT_KIND, FORWARD_KIND, NOTIFY_KIND, PHOTO_KIND, RETRYABLE_STATUSES, OutboxStore
from bot.town.tickets.references import parse_reference
from bot.town.tickets.satisfaction import SatisfactionStore
from bot.town.tickets.schema import URGENT_PRIORITY, outbox, tickets

PAGE_SIZE = 25
MAX_NOTE_CHARS = 1000
STATE_LABELS = {"nouveau": "Nouveau", "pris_en_charge": "Pris en charge", "planifie": "Planifié",
                "traite": "Traité", "non_retenu": "Non retenu"}  # fmt: skip
STATUS_LABELS = {"open": "ouvert", "closed": "fermé"}
# A call-back's outcome: the ticket's new state and the note the citizen receives with the status update.
CALLBACK_OUTCOMES = {
    "rappele": ("traite", "Rappelé", "Un agent vous a rappelé."),
    "injoignable": ("pris_en_charge", "Injoignable", "Un agent a tenté de vous rappeler, sans succès ; il réessaiera."),
}
OUTBOX_LABELS = {"pending": "en attente d'envoi", "sending": "en cours d'envoi",
                 "sent": "envoyée, pas encore reçue par le citoyen", "delivered": "remise",
                 "failed": "échec, nouvel essai prévu", "dead": "abandonnée",
                 "cancelled": "annulée (désinscription)"}  # fmt: skip


@dataclass(frozen=True)
class TicketFilter:
    """What staff filter the ticket list by; None means "any"."""

    state: str | None = None
    status: str | None = None
    category: str | None = None
    start: date | None = None
    end: date | None = None
    street: str | None = None
    page: int = 1

    @classmethod
    def from_query(cls, args: Mapping[str, str]) -> TicketFilter:
        """Read the filter form's query string; unknown values are ignored."""
        state, status, category = args.get("etat"), args.get("statut"), args.get("categorie")
        return cls(
            state=state if state in STATES else None,
            status=status if status in STATUS_LABELS else None,
            category=category if category in PROBLEM_TYPES else None,
            start=date_value(args.get("du")),
            end=date_value(args.get("au")),
            street=(args.get("rue") or "").strip()[:200] or None,
            page=max(1, int_value(args.get("page"), 1)),
        )

    def query_args(self, **changes: Any) -> dict[str, str]:
        """The query string of this filter (with `changes`), for pagination links."""
        f = replace(self, **changes)
        args = {"etat": f.state or "", "statut": f.status or "", "categorie": f.category or "",
                "du": f.start.isoformat() if f.start else "", "au": f.end.isoformat() if f.end else "",
                "rue": f.street or "", "page": str(f.page)}  # fmt: skip
        return {k: v for k, v in args.items() if v and not (k == "page" and v == "1")}


@dataclass(frozen=True)
class TicketPage:
    """One page of the filtered ticket list."""

    items: list[Ticket]
    total: int
    page: int
    pages: int


def list_tickets(engine: Any, flt: TicketFilter, *, tz: Any, per_page: int = PAGE_SIZE) -> TicketPage:
    """Tickets matching `flt`, open urgent ones first, then newest first, one page of them."""
    query = select(tickets)
    if flt.state:
        query = query.where(tickets.c.state == flt.state)
    if flt.status:
        query = query.where(tickets.c.status == flt.status)
    if flt.category:
        query = query.where(tickets.c.service_code == flt.category)
    lower, upper = day_bounds(flt.start, flt.end, tz)
    if lower is not None:
        query = query.where(tickets.c.requested_datetime >= datetime.fromtimestamp(lower, timezone.utc))
    if upper is not None:
        query = query.where(tickets.c.requested_datetime < datetime.fromtimestamp(upper, timezone.utc))
    if flt.street:
        words = _escape_like(normalise_street(flt.street) or flt.street.lower())
        typed = _escape_like(flt.street.lower())
        query = query.where(or_(tickets.c.street.like(f"%{words}%", escape="\\"),
                                func.lower(tickets.c.address).like(f"%{typed}%", escape="\\")))  # fmt: skip
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(query.subquery())).scalar() or 0)
        pages = max(1, -(-total // per_page))
        page = min(flt.page, pages)
        # Open urgent tickets first (a danger waits for no one), then newest first.
        urgent_open = case(((tickets.c.priority == URGENT_PRIORITY) & (tickets.c.status == "open"), 0), else_=1)
        rows = conn.execute(
            query.order_by(urgent_open, tickets.c.requested_datetime.desc(), tickets.c.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
    return TicketPage([Ticket.from_row(r) for r in rows], total, page, pages)


def notifications_of(engine: Any, ref: str) -> list[dict[str, Any]]:
    """The citizen notifications of a ticket's status changes, each followed by its fallback to the citizen's
    contact if one was sent; with when each was delivered (a held web chat update: when the browser got it)."""
    pattern = f"{NOTIFY_KIND}:{_escape_like(ref)}:%"
    with engine.connect() as conn:
        rows = conn.execute(
            select(outbox).where(outbox.c.dedup_key.like(pattern, escape="\\")).order_by(outbox.c.id)
        ).all()
        jobs = [dict(r._mapping) for r in rows]
        keys = {fallback_key(job["id"]): job["id"] for job in jobs}
        fallbacks = {
            keys[r.dedup_key]: {**r._mapping, "fallback": True}  # type: ignore[attr-defined]
            for r in conn.execute(select(outbox).where(outbox.c.dedup_key.in_(list(keys)))).all()
        } if keys else {}  # fmt: skip
    held = HeldMessages(engine).of_jobs(job["id"] for job in jobs)
    shown: list[dict[str, Any]] = []
    for job in jobs:
        kept = held.get(job["id"])
        job["delivered_at"] = kept.delivered_at if kept else (job["sent_at"] if job["status"] == "delivered" else None)
        shown.append(job)
        if job["id"] in fallbacks:
            fallback = fallbacks[job["id"]]
            fallback["delivered_at"] = fallback["sent_at"] if fallback["status"] == "delivered" else None
            shown.append(fallback)
    return shown


def osm_link(lat: float | None, long: float | None) -> str | None:
    """An OpenStreetMap link centred on the point, or None without coordinates."""
    if lat is None or long is None:
        return None
    return f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={long:.6f}#map=18/{lat:.6f}/{long:.6f}"


def photo_path(media_url: str | None) -> str | None:
    """Where staff see a ticket's photo: the console's own media route (no other host is ever allowed)."""
    name = media_name(media_url)
    return f"{MEDIA_ROUTE}/{name}" if name else None


def masked_contact(contact: str | None) -> str | None:
    """A ticket's contact as the page shows it until staff ask: enough to recognise it, not to use it."""
    if not contact:
        return None
    parsed = parse_contact(contact)
    return parsed.masked if parsed is not None else "[contact masqué]"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def register_ticket_pages(app: Sanic, console: Console) -> TicketStore:
    """Mount /tickets and the photos' /media on `app`; the ticket tables are created when the server starts."""
    settings = console.settings
    media, signer = media_store(settings), media_signer(settings)
    store = TicketStore(
        console.engine,
        prefix=settings.ticket_prefix,
        timezone=settings.timezone,
        clock=lambda: datetime.fromtimestamp(console.clock(), timezone.utc),
        forward_new_tickets=bool(settings.open311_forward_url),
        media=media,
        alert_email=settings.alert_email,
        console_url=settings.effective_console_url,
    )
    app.blueprint(create_tickets_blueprint(console, store))
    app.blueprint(create_media_blueprint(console, media, signer))

    @app.before_server_start
    async def _create_ticket_schema(_app: Sanic, _loop: object) -> None:
        await asyncio.to_thread(create_schema, console.engine)

    return store


def create_tickets_blueprint(console: Console, store: TicketStore) -> Blueprint:
    """The staff routes of tickets."""
    bp = Blueprint(f"console_tickets_{id(console)}")
    staff_page = staff_guard(console)
    outboxes = OutboxStore(console.engine)

    @bp.middleware("response")
    async def _headers(_request: Request, resp: HTTPResponse) -> None:
        for name, value in SECURITY_HEADERS.items():
            resp.headers.setdefault(name, value)

    def not_found(request: Request) -> HTTPResponse:
        return console.render(request, "error.html", status=404, title="Ticket introuvable",
                              message="Aucun ticket ne porte cette référence.")  # fmt: skip

    @bp.get("/tickets", name="tickets")
    @staff_page
    async def ticket_list(request: Request) -> HTTPResponse:
        flt = TicketFilter.from_query(request.args)
        page = await console.run(list_tickets, console.engine, flt, tz=console.tz)
        return console.render(request, "tickets.html", section="tickets", flt=flt, page=page, states=STATE_LABELS,
                              statuses=STATUS_LABELS, categories=PROBLEM_TYPES, urlencode=urlencode)  # fmt: skip

    async def ticket_page(
        request: Request, ref: str, *, error: str | None = None, status: int = 200, reveal_contact: bool = False
    ) -> HTTPResponse:
        ticket = await console.run(store.get_ticket, ref)
        if ticket is None:
            return not_found(request)
        revealed = reveal_contact and bool(ticket.contact)
        if revealed:  # who saw which ticket's contact, and when; never the contact itself
            await console.audit(request.ctx.staff.user.email, "reveal_contact", ticket.ref, "contact affiché")
        history = await console.run(store.history, ticket.ref)
        jobs = await console.run(notifications_of, console.engine, ticket.ref)
        forward = await console.run(outboxes.job, f"{FORWARD_KIND}:{ticket.ref}")
        alert = await console.run(outboxes.job, f"{ALERT_KIND}:{ticket.ref}") if ticket.urgent else None
        pending = pending_photo(ticket.media_url) is not None
        download = await console.run(outboxes.job, f"{PHOTO_KIND}:{ticket.ref}") if pending else None
        satisfied = await console.run(SatisfactionStore(console.engine).answer_of, ticket.ref)
        resp = console.render(
            request, "ticket.html", status=status, section="tickets", ticket=ticket, history=history, jobs=jobs,
            states=STATE_LABELS, statuses=STATUS_LABELS, categories=PROBLEM_TYPES, outbox_labels=OUTBOX_LABELS,
            osm=osm_link(ticket.lat, ticket.long), error=error, changed=request.args.get("modifie") == "1",
            retried=request.args.get("relance") == "1",
            local=lambda moment: moment.astimezone(console.tz).strftime("%d/%m/%Y %H:%M") if moment else "—",
            photo=photo_path(ticket.media_url), retryable=RETRYABLE_STATUSES, forward=forward, alert=alert,
            photo_pending=pending, photo_lost=download is not None and download.status == "dead",
            contact=ticket.contact if revealed else masked_contact(ticket.contact), contact_revealed=revealed,
            callback=is_callback(ticket.description, ticket.service_code), outcomes=CALLBACK_OUTCOMES,
            satisfied=satisfied,
        )  # fmt: skip
        return resp

    @bp.get("/tickets/<ref:str>", name="ticket")
    @staff_page
    async def ticket(request: Request, ref: str) -> HTTPResponse:
        canonical = parse_reference(ref)
        if canonical is None:
            return not_found(request)
        if canonical != ref:
            return response.redirect(f"/tickets/{quote(canonical)}", status=301)
        return await ticket_page(request, canonical)

    @bp.post("/tickets/<ref:str>/contact", name="ticket_contact")
    @staff_page
    async def reveal_contact(request: Request, ref: str) -> HTTPResponse:
        return await ticket_page(request, parse_reference(ref) or ref, reveal_contact=True)

    @bp.post("/tickets/<ref:str>/callback", name="ticket_callback")
    @staff_page
    async def callback_outcome(request: Request, ref: str) -> HTTPResponse:
        """« Rappelé » / « injoignable » on a call-back ticket: its state, history and the audit log record it."""
        canonical = parse_reference(ref) or ref
        ticket = await console.run(store.get_ticket, canonical)
        if ticket is None:
            return not_found(request)
        outcome = CALLBACK_OUTCOMES.get(form_value(request, "outcome") or "")
        if outcome is None or not is_callback(ticket.description, ticket.service_code):
            error = "Choisissez « rappelé » ou « injoignable » sur une demande de rappel."
            return await ticket_page(request, canonical, error=error, status=400)
        state, label, note = outcome
        actor = request.ctx.staff.user.email
        await console.run(store.set_status, canonical, state, note, actor)
        await console.audit(actor, "callback_outcome", canonical, label)
        return response.redirect(f"/tickets/{quote(canonical)}?modifie=1", status=303)

    @bp.post("/tickets/<ref:str>/status", name="ticket_status")
    @staff_page
    async def change_status(request: Request, ref: str) -> HTTPResponse:
        canonical = parse_reference(ref) or ref
        state = form_value(request, "state") or ""
        note = (form_value(request, "note") or "").strip()[:MAX_NOTE_CHARS] or None
        reason = (form_value(request, "reason") or "").strip()[:MAX_NOTE_CHARS] or None
        if state not in STATES:
            return await ticket_page(request, canonical, error="Choisissez un état.", status=400)
        if state == "non_retenu" and not reason:
            return await ticket_page(request, canonical, error="Un ticket non retenu demande un motif.", status=400)
        actor = request.ctx.staff.user.email
        try:
            await console.run(
                store.set_status, canonical, state, note, actor, reason if state == "non_retenu" else None
            )
        except TicketNotFound:
            return not_found(request)
        detail = f"{state}" + (f" — {note}" if note else "") + (f" (motif : {reason})" if state == "non_retenu" else "")
        await console.audit(actor, "ticket_status", canonical, detail)
        return response.redirect(f"/tickets/{quote(canonical)}?modifie=1", status=303)

    @bp.post("/tickets/<ref:str>/transmission", name="ticket_forward_retry")
    @staff_page
    async def retry_forward(request: Request, ref: str) -> HTTPResponse:
        """Staff send a forward that failed or gave up again now (signed-in staff, with the form's token)."""
        canonical = parse_reference(ref) or ref
        now = datetime.fromtimestamp(console.clock(), timezone.utc)
        if not await console.run(outboxes.retry_now, f"{FORWARD_KIND}:{canonical}", now):
            return await ticket_page(request, canonical, error="Aucune transmission à relancer.", status=409)
        await console.audit(request.ctx.staff.user.email, "ticket_forward_retry", canonical, "transmission relancée")
        return response.redirect(f"/tickets/{quote(canonical)}?relance=1", status=303)

    return bp
