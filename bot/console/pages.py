"""The staff console's pages (Sanic blueprint): login, conversations, review, misunderstood queue, analytics, admin."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote, urlencode
from zoneinfo import ZoneInfo

from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.engine import Engine, make_url

from bot.console import auth
from bot.console.account_pages import register_account_pages
from bot.console.analytics import analytics_charts, analytics_csv, analytics_tables, compute_analytics
from bot.console.appointments_pages import register_appointment_pages
from bot.console.catalog_pages import register_catalog_pages
from bot.console.conversations import CHANNELS, FALLBACK_INTENT, ConversationFilter, list_conversations, load_transcript
from bot.console.erasure_pages import register_erasure_pages
from bot.console.handoff_pages import register_handoff_pages
from bot.console.review import (
    INTENTS,
    corrections_yaml,
    get_review,
    misunderstood_messages,
    normalize_tags,
    record_correction,
    save_review,
)
from bot.console.schema import create_console_schema
from bot.console.tickets_pages import register_ticket_pages
from bot.console.web import (
    HERE,
    LOGIN_CSRF_COOKIE,
    PASSWORD_PATH,
    SESSION_COOKIE,
    Console,
    Handler,
    add_security_headers,
    client_ip,
    create_templates,
    date_value,
    form_value,
    int_value,
    safe_next,
    set_cookie,
    staff_guard,
)
from bot.db import create_engine_for
from bot.settings import Settings

REASON_LABELS = {"fallback": "repli (non compris)", "low_confidence": "confiance faible",
                 "negative_feedback": "réponse contestée (« non »)"}  # fmt: skip
MAX_ANALYTICS_DAYS = 366
QUEUE_PAGE_SIZE = 25
AUDIT_PAGE_SIZE = 50
NEUTRAL_LOGIN_ERROR = (
    "Connexion impossible : adresse e-mail ou mot de passe incorrect, ou trop de tentatives. "
    "Vérifiez vos identifiants ou réessayez dans quelques minutes."
)


def register_console(
    app: Sanic, settings: Settings, *, engine: Engine | None = None, clock: Callable[[], float] = time.time
) -> None:
    """Mount the staff pages on `app` (the database schema is created when the server starts)."""
    own_engine = engine is None
    engine = engine or create_engine_for(settings.effective_database_url)
    console = Console(engine, settings, create_templates(settings), ZoneInfo(settings.timezone), clock)
    app.ctx.console = console
    app.blueprint(create_console_blueprint(console))
    register_account_pages(app, console)

    @app.before_server_start
    async def _create_console_schema(_app: Sanic, _loop: object) -> None:
        url = make_url(settings.effective_database_url)
        if own_engine and url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(create_console_schema, console.engine)

    # Tickets and handoffs after the listener above, whose directory their tables need.
    register_handoff_pages(app, console, register_ticket_pages(app, console))
    register_erasure_pages(app, console)
    register_catalog_pages(app, console)
    register_appointment_pages(app, console)


def create_console_blueprint(console: Console) -> Blueprint:
    """Every staff route, guarded by session, role and CSRF checks."""
    bp = Blueprint(f"console_{id(console)}")
    bp.static("/console/static/console.css", str(HERE / "static" / "console.css"), name="console_css")

    add_security_headers(bp)

    def staff_page(*, admin: bool = False, while_password_pending: bool = False) -> Callable[[Handler], Handler]:
        return staff_guard(console, admin=admin, while_password_pending=while_password_pending)

    # --- login / logout -------------------------------------------------------------------------

    @bp.get("/login", name="login")
    async def login_form(request: Request) -> HTTPResponse:
        return _login_page(request, error=None, status=200)

    def _login_page(request: Request, *, error: str | None, status: int, email: str = "") -> HTTPResponse:
        token = auth.new_csrf_token()
        resp = console.render(
            request,
            "login.html",
            status=status,
            error=error,
            login_csrf=token,
            email=email,
            next=safe_next(request.args.get("next") or form_value(request, "next")),
        )
        set_cookie(resp, LOGIN_CSRF_COOKIE, token, secure=console.secure_cookies(request))
        return resp

    @bp.post("/login", name="login_submit")
    async def login_submit(request: Request) -> HTTPResponse:
        if not auth.csrf_matches(request.cookies.get(LOGIN_CSRF_COOKIE), form_value(request, "csrf_token")):
            return console.forbidden(request, "Le formulaire de connexion a expiré. Rechargez la page.")
        email = (form_value(request, "email") or "")[:254]
        try:
            user = await console.run(
                auth.authenticate,
                console.engine,
                email,
                form_value(request, "password") or "",
                client_ip(request),
                now=console.clock(),
            )
        except auth.LoginRefused:
            return _login_page(request, error=NEUTRAL_LOGIN_ERROR, status=401, email=email)
        token = await console.run(auth.open_session, console.engine, user, now=console.clock())
        target = PASSWORD_PATH if user.must_change_password else safe_next(form_value(request, "next"))
        resp = response.redirect(target, status=303)
        set_cookie(resp, SESSION_COOKIE, token, secure=console.secure_cookies(request))
        del resp.cookies[LOGIN_CSRF_COOKIE]
        return resp

    @bp.post("/logout", name="logout")
    @staff_page(while_password_pending=True)
    async def logout(request: Request) -> HTTPResponse:
        await console.run(
            auth.close_session,
            console.engine,
            request.cookies.get(SESSION_COOKIE),
            actor=request.ctx.staff.user.email,
            now=console.clock(),
        )
        resp = response.redirect("/login", status=303)
        del resp.cookies[SESSION_COOKIE]
        return resp

    # --- conversations --------------------------------------------------------------------------

    @bp.get("/conversations", name="conversations")
    @staff_page()
    async def conversations(request: Request) -> HTTPResponse:
        flt = ConversationFilter.from_query(request.args)
        page = await console.run(list_conversations, console.engine, flt, tz=console.tz)
        return console.render(
            request,
            "conversations.html",
            section="conversations",
            flt=flt,
            page=page,
            intents=(*INTENTS, FALLBACK_INTENT),
            channels=CHANNELS,
            urlencode=urlencode,
        )

    async def _transcript_page(request: Request, sender_id: str, *, reveal: bool, saved: bool = False) -> HTTPResponse:
        transcript = await console.run(load_transcript, console.engine, sender_id, reveal=reveal)
        if transcript is None:
            return console.render(
                request,
                "error.html",
                status=404,
                title="Conversation introuvable",
                message="Aucune conversation ne porte cet identifiant.",
            )
        review = await console.run(get_review, console.engine, sender_id)
        return console.render(
            request, "transcript.html", section="conversations", transcript=transcript, review=review, saved=saved
        )

    @bp.get("/conversations/<sender_id:str>", name="transcript")
    @staff_page()
    async def transcript(request: Request, sender_id: str) -> HTTPResponse:
        return await _transcript_page(
            request, unquote(sender_id), reveal=False, saved=request.args.get("enregistre") == "1"
        )

    @bp.post("/conversations/<sender_id:str>/review", name="review")
    @staff_page()
    async def review(request: Request, sender_id: str) -> HTTPResponse:
        sender_id = unquote(sender_id)
        await console.run(
            save_review, console.engine, sender_id, reviewed=form_value(request, "reviewed") == "1",
            tags=normalize_tags(form_value(request, "tags") or ""), notes=form_value(request, "notes") or "",
            actor=request.ctx.staff.user.email, now=console.clock(),
        )  # fmt: skip
        return response.redirect(f"/conversations/{quote(sender_id, safe='')}?enregistre=1", status=303)

    @bp.post("/conversations/<sender_id:str>/reveal", name="reveal")
    @staff_page(admin=True)
    async def reveal(request: Request, sender_id: str) -> HTTPResponse:
        sender_id = unquote(sender_id)
        await console.audit(request.ctx.staff.user.email, "reveal", sender_id, "données démasquées")
        return await _transcript_page(request, sender_id, reveal=True)

    # --- improving the assistant ----------------------------------------------------------------

    @bp.get("/misunderstood", name="misunderstood")
    @staff_page()
    async def misunderstood(request: Request) -> HTTPResponse:
        messages = await console.run(misunderstood_messages, console.engine)
        pages = max(1, -(-len(messages) // QUEUE_PAGE_SIZE))
        page = min(pages, max(1, int_value(request.args.get("page"), 1)))
        shown = messages[(page - 1) * QUEUE_PAGE_SIZE : page * QUEUE_PAGE_SIZE]
        return console.render(
            request,
            "misunderstood.html",
            section="misunderstood",
            messages=shown,
            total=len(messages),
            page=page,
            pages=pages,
            intents=INTENTS,
            reasons=REASON_LABELS,
            corrected=request.args.get("corrige"),
        )

    @bp.post("/misunderstood/correct", name="correct")
    @staff_page()
    async def correct(request: Request) -> HTTPResponse:
        intent = form_value(request, "intent") or ""
        try:
            await console.run(
                record_correction,
                console.engine,
                int_value(form_value(request, "event_id"), 0),
                intent,
                actor=request.ctx.staff.user.email,
                now=console.clock(),
            )
        except (ValueError, LookupError):
            return console.render(
                request,
                "error.html",
                status=400,
                title="Correction impossible",
                message="Ce message ou cette intention n'existe pas.",
            )
        return response.redirect("/misunderstood?" + urlencode({"corrige": intent}), status=303)

    @bp.get("/corrections.yml", name="corrections")
    @staff_page()
    async def corrections(request: Request) -> HTTPResponse:
        content, count = await console.run(corrections_yaml, console.engine)
        await console.audit(request.ctx.staff.user.email, "export_corrections", None, f"{count}")
        return response.text(
            content,
            content_type="application/x-yaml; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="corrections.yml"'},
        )

    # --- analytics ------------------------------------------------------------------------------

    def _period(request: Request) -> tuple[date, date]:
        today = datetime.fromtimestamp(console.clock(), console.tz).date()
        end = date_value(request.args.get("au")) or today
        start = date_value(request.args.get("du")) or end - timedelta(days=29)
        if start > end:
            start, end = end, start
        return max(start, end - timedelta(days=MAX_ANALYTICS_DAYS - 1)), end

    @bp.get("/analytics", name="analytics")
    @staff_page()
    async def analytics(request: Request) -> HTTPResponse:
        start, end = _period(request)
        figures = await console.run(compute_analytics, console.engine, start, end, tz=console.tz)
        return console.render(
            request,
            "analytics.html",
            section="analytics",
            a=figures,
            charts=analytics_charts(figures),
            tables=analytics_tables(figures),
            query=urlencode({"du": start, "au": end}),
        )

    @bp.get("/analytics.csv", name="analytics_csv")
    @staff_page()
    async def analytics_export(request: Request) -> HTTPResponse:
        start, end = _period(request)
        figures = await console.run(compute_analytics, console.engine, start, end, tz=console.tz)
        return response.text(
            analytics_csv(figures),
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="guichet-statistiques-{start}-{end}.csv"'},
        )

    # --- administration -------------------------------------------------------------------------

    @bp.get("/audit", name="audit")
    @staff_page(admin=True)
    async def audit(request: Request) -> HTTPResponse:
        page = max(1, int_value(request.args.get("page"), 1))
        entries, total = await console.run(
            auth.list_audit, console.engine, limit=AUDIT_PAGE_SIZE, offset=(page - 1) * AUDIT_PAGE_SIZE
        )
        pages = max(1, -(-total // AUDIT_PAGE_SIZE))
        return console.render(
            request, "audit.html", section="audit", entries=entries, page=page, pages=pages, total=total
        )

    return bp
