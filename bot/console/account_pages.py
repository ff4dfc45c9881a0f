"""The console's account pages: each staff member's own password (`/mot-de-passe`) and the admins' `/staff` page.

Every change goes through bot.console.accounts or bot.console.auth, which write the audit entry in the same
transaction. A temporary password set by an admin is shown once, on the page that answers the reset, and never stored
in clear.
"""

from __future__ import annotations

from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console import accounts, auth
from bot.console.web import (
    PASSWORD_PATH,
    SESSION_COOKIE,
    Console,
    add_security_headers,
    client_ip,
    form_value,
    int_value,
    staff_guard,
)


def register_account_pages(app: Sanic, console: Console) -> None:
    """Mount `/mot-de-passe` (every staff member) and `/staff` (admins) on the console app."""
    app.blueprint(create_accounts_blueprint(console))


def create_accounts_blueprint(console: Console) -> Blueprint:
    """The password change form and the admins' account management, behind the staff guard."""
    bp = Blueprint(f"console_accounts_{id(console)}")
    add_security_headers(bp)
    admin_only = staff_guard(console, admin=True)

    def password_page(request: Request, *, status: int = 200, **context: object) -> HTTPResponse:
        return console.render(
            request, "password.html", status=status, section="password", min_password=auth.MIN_PASSWORD_LENGTH,
            **context,
        )  # fmt: skip

    @bp.get(PASSWORD_PATH, name="password")
    @staff_guard(console, while_password_pending=True)
    async def password_form(request: Request) -> HTTPResponse:
        return password_page(request, changed=request.args.get("change") == "1")

    @bp.post(PASSWORD_PATH, name="password_submit")
    @staff_guard(console, while_password_pending=True)
    async def password_submit(request: Request) -> HTTPResponse:
        new = form_value(request, "new_password") or ""
        if new != (form_value(request, "confirm_password") or ""):
            return password_page(request, status=400, error="Les deux saisies du nouveau mot de passe diffèrent.")
        current, token = form_value(request, "current_password") or "", request.cookies.get(SESSION_COOKIE) or ""
        try:
            await console.run(
                auth.change_password,
                console.engine,
                request.ctx.staff.user,
                current,
                new,
                keep_token=token,
                ip=client_ip(request),
                now=console.clock(),
            )
        except auth.AccountError as error:
            return password_page(request, status=400, error=error.french)
        return response.redirect(f"{PASSWORD_PATH}?change=1", status=303)

    async def staff_page(request: Request, *, status: int = 200, **context: object) -> HTTPResponse:
        users = await console.run(accounts.list_staff_users, console.engine)
        return console.render(
            request, "staff.html", status=status, section="staff", users=users, roles=accounts.ROLE_LABELS,
            min_password=auth.MIN_PASSWORD_LENGTH, **context,
        )  # fmt: skip

    @bp.get("/staff", name="staff")
    @admin_only
    async def staff(request: Request) -> HTTPResponse:
        return await staff_page(request)

    @bp.post("/staff", name="staff_submit")
    @admin_only
    async def staff_submit(request: Request) -> HTTPResponse:
        actor, action = request.ctx.staff.user.email, form_value(request, "action")
        user_id = int_value(form_value(request, "user_id"), 0)
        own = user_id == request.ctx.staff.user.id
        now = console.clock()
        try:
            if action == "create":
                email, role = form_value(request, "email") or "", form_value(request, "role") or ""
                password = form_value(request, "password") or ""
                user = await console.run(
                    accounts.create_staff_user, console.engine, email, role, password, actor=actor, now=now
                )
                return await staff_page(request, notice=f"Compte créé pour {user.email}.")
            if action in ("disable", "enable", "reset") and own:
                return await staff_page(request, status=400, error=OWN_ACCOUNT_ERROR)
            if action in ("disable", "enable"):
                await console.run(
                    accounts.set_staff_active, console.engine, user_id, action == "enable", actor=actor, now=now
                )
                return await staff_page(request, notice="Compte modifié.")
            if action == "reset":
                email, temporary = await console.run(
                    accounts.reset_staff_password, console.engine, user_id, actor=actor, now=now
                )
                return await staff_page(request, reset_email=email, temporary_password=temporary)
            if action == "role":
                role = form_value(request, "role") or ""
                user = await console.run(accounts.set_staff_role, console.engine, user_id, role, actor=actor, now=now)
                if own and not user.is_admin:
                    return response.redirect("/conversations", status=303)
                label = accounts.ROLE_LABELS[user.role]
                return await staff_page(request, notice=f"Rôle de {user.email} : {label}.")
        except auth.AccountError as error:
            return await staff_page(request, status=400, error=error.french)
        return await staff_page(request, status=400, error="Action inconnue.")

    return bp


OWN_ACCOUNT_ERROR = (
    "Vous ne pouvez pas désactiver ni réinitialiser votre propre compte ici : changez votre mot de passe "
    "depuis « Mot de passe »."
)
