"""The console's web plumbing: the shared context, templates, the staff guard (session, role, CSRF), cookies, forms."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup, escape
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import exc, func, select
from sqlalchemy.engine import Engine

from bot.client_address import client_address
from bot.console import auth
from bot.console.conversations import CHANNEL_LABELS, TICKET_REF
from bot.settings import Settings

SESSION_COOKIE = "guichet_session"
LOGIN_CSRF_COOKIE = "guichet_login_csrf"
PASSWORD_PATH = "/mot-de-passe"  # noqa: S105 - a page address, not a password
HERE = Path(__file__).resolve().parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

Handler = Callable[..., Coroutine[Any, Any, HTTPResponse]]


@dataclass
class Console:
    """What the pages need: the database, settings, templates, the clock."""

    engine: Engine
    settings: Settings
    templates: jinja2.Environment
    tz: ZoneInfo
    clock: Callable[[], float]

    async def run(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run blocking database work off the event loop."""
        return await asyncio.to_thread(function, *args, **kwargs)

    def render(self, request: Request, template: str, *, status: int = 200, **context: Any) -> HTTPResponse:
        """A page from `templates/`, with the staff session and town in its context."""
        staff = getattr(request.ctx, "staff", None)
        html = self.templates.get_template(template).render(
            staff=staff, csrf_token=staff.csrf_token if staff else "", town=self.settings.town_name,
            path=request.path, channel_labels=CHANNEL_LABELS, urgent_open=getattr(request.ctx, "urgent_open", None),
            **context,
        )  # fmt: skip
        return response.html(html, status=status)

    def forbidden(self, request: Request, message: str) -> HTTPResponse:
        """The French 403 page."""
        return self.render(request, "error.html", status=403, title="Accès refusé", message=message)

    def secure_cookies(self, request: Request) -> bool:
        """Whether cookies must be Secure: the request came over HTTPS, directly or through a proxy."""
        forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        return forwarded == "https" or request.scheme == "https" or self.settings.public_url.startswith("https:")

    async def audit(self, actor: str, action: str, target: str | None, detail: str | None) -> None:
        """Write one audit entry for something staff did that changes no table (a reveal, an export)."""

        def write() -> None:
            with self.engine.begin() as conn:
                auth.record_audit(conn, actor, action, target, detail, now=self.clock())

        await self.run(write)


async def staff_session(console: Console, request: Request) -> Any:
    """The signed-in staff session of this request (its cookie, not expired), or None."""
    return await console.run(
        auth.resolve_session, console.engine, request.cookies.get(SESSION_COOKIE),
        idle_minutes=console.settings.console_session_minutes, now=console.clock(),
    )  # fmt: skip


def open_urgent_count(engine: Engine) -> int | None:
    """Open urgent tickets, for the badge of every staff page; None while the ticket tables do not exist."""
    from bot.town.tickets.schema import URGENT_PRIORITY, tickets

    try:
        with engine.connect() as conn:
            query = select(func.count()).select_from(tickets)
            return int(
                conn.execute(query.where(tickets.c.priority == URGENT_PRIORITY, tickets.c.status == "open")).scalar()
                or 0
            )
    except (exc.OperationalError, exc.ProgrammingError):
        return None


def staff_guard(
    console: Console, *, admin: bool = False, while_password_pending: bool = False
) -> Callable[[Handler], Handler]:
    """A decorator for staff routes: login required (302), then CSRF on POST (403), then the admin role (403).

    A session opened with a temporary password reaches only the routes marked `while_password_pending` (the
    password change, logout); every other one sends it to the password change first (303).
    """

    def decorator(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            session = await staff_session(console, request)
            if session is None:
                target = request.path + (f"?{request.query_string}" if request.query_string else "")
                return response.redirect("/login?" + urlencode({"next": target}), status=302)
            request.ctx.staff = session
            request.ctx.urgent_open = await console.run(open_urgent_count, console.engine)
            if session.user.must_change_password and not while_password_pending:
                return response.redirect(PASSWORD_PATH, status=303)
            if request.method == "POST" and not auth.csrf_matches(
                session.csrf_token, form_value(request, "csrf_token")
            ):
                return console.forbidden(request, "Le formulaire a expiré ou ne vient pas de la console. Rechargez.")
            if admin and not session.user.is_admin:
                return console.forbidden(request, "Cette page est réservée aux administrateurs.")
            return await handler(request, *args, **kwargs)

        return guarded

    return decorator


def add_security_headers(bp: Blueprint) -> None:
    """Give every response of `bp`'s routes the console's security headers (a route may set its own first)."""

    @bp.middleware("response")
    async def _headers(_request: Request, resp: HTTPResponse) -> None:
        for name, value in SECURITY_HEADERS.items():
            resp.headers.setdefault(name, value)


def create_templates(settings: Settings) -> jinja2.Environment:
    """The Jinja2 environment of the console's templates, with French formatting filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True
    )
    tz = ZoneInfo(settings.timezone)
    env.filters["when"] = lambda stamp: (
        datetime.fromtimestamp(float(stamp), timezone.utc).astimezone(tz).strftime("%d/%m/%Y %H:%M")
    )
    env.filters["decimal"] = lambda value, digits=2: "—" if value is None else f"{value:.{digits}f}".replace(".", ",")
    env.filters["percent"] = lambda value: "—" if value is None else f"{value * 100:.1f} %".replace(".", ",")
    env.filters["with_refs"] = with_ticket_links
    env.filters["path_quote"] = lambda value: quote(str(value), safe="")
    return env


def with_ticket_links(text: str) -> Markup:
    """Escape `text` and turn ticket references into links to their ticket page."""
    linked = TICKET_REF.sub(lambda m: f'<a href="/tickets/{m.group()}">{m.group()}</a>', str(escape(text)))
    return Markup(linked)  # noqa: S704 - escaped first; a reference is only letters, digits and dashes


def safe_next(target: str | None) -> str:
    """Only a path of this site (no scheme, no "//host") may be the place to go after login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/conversations"


def set_cookie(resp: HTTPResponse, name: str, value: str, *, secure: bool) -> None:
    """An HttpOnly, SameSite=Lax cookie for the whole site; Secure when served over HTTPS."""
    resp.cookies[name] = value
    resp.cookies[name]["httponly"] = True
    resp.cookies[name]["samesite"] = "Lax"
    resp.cookies[name]["path"] = "/"
    if secure:
        resp.cookies[name]["secure"] = True


def form_value(request: Request, name: str) -> str | None:
    """A field of a POSTed form (None for other methods or a missing field)."""
    form = request.form if request.method == "POST" else None
    return form.get(name) if form else None


def client_ip(request: Request) -> str:
    """The client's address (bot.client_address: behind PROXIES_COUNT proxies, the one they forwarded)."""
    proxies_count = request.app.ctx.console.settings.proxies_count
    return client_address(request.ip or "?", request.headers.get("x-forwarded-for"), proxies_count)


def int_value(value: str | None, default: int) -> int:
    """An integer from a query or form value, or `default`."""
    try:
        return int(value or default)
    except ValueError:
        return default


def date_value(value: str | None) -> date | None:
    """An ISO date from a query value, or None."""
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None
