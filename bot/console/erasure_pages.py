"""Admin page: erase a citizen's data by channel identity (a right-to-erasure request received by mail or at the desk).

The erasure itself is bot.town.privacy.erasure (the same as « supprimer mes données » in the conversation). The audit
log records who erased, on which channel and how many rows, never the identity erased: it would bring back what was
just removed.
"""

from __future__ import annotations

import functools

from sanic import Blueprint, Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console.conversations import CHANNEL_LABELS
from bot.console.web import Console, form_value, staff_guard
from bot.town.media import media_store
from bot.town.privacy import ErasureReport, erase_senders, sender_ids_for
from bot.town.privacy.pseudonyms import load_identity_secret

MAX_IDENTITY_CHARS = 255
IDENTITY_HINTS = {
    "sms": "numéro de téléphone (06 12 34 56 78, +33…) ou pseudonyme « sms:… » de la liste des conversations",
    "telegram": "identifiant de discussion Telegram (chiffres) ou « telegram:… »",
    "web": "identifiant de session du chat web ou « webchat:… »",
    "voice": "numéro de téléphone de l'appelant (05 59…, +33…) ou pseudonyme « voice:… » de la liste des conversations",
    "rest": "identifiant d'expéditeur de l'API REST ou « rest:… »",
}


def register_erasure_pages(app: Sanic, console: Console) -> None:
    """Mount `/effacement` (admins only) on the console app."""
    app.blueprint(create_erasure_blueprint(console))


def create_erasure_blueprint(console: Console) -> Blueprint:
    """GET shows the form; POST erases, after an explicit confirmation, and writes the audit entry."""
    bp = Blueprint(f"console_erasure_{id(console)}")
    admin_only = staff_guard(console, admin=True)

    def page(request: Request, *, status: int = 200, **context: object) -> HTTPResponse:
        return console.render(
            request, "erasure.html", status=status, section="erasure", channels=CHANNEL_LABELS, hints=IDENTITY_HINTS,
            **context,
        )  # fmt: skip

    @bp.get("/effacement", name="erasure")
    @admin_only
    async def erasure_form(request: Request) -> HTTPResponse:
        return page(request)

    @bp.post("/effacement", name="erasure_submit")
    @admin_only
    async def erasure_submit(request: Request) -> HTTPResponse:
        channel = form_value(request, "channel") or ""
        identity = (form_value(request, "identity") or "").strip()
        kept = {"channel": channel, "identity": identity[:MAX_IDENTITY_CHARS]}
        if channel not in CHANNEL_LABELS or not identity or len(identity) > MAX_IDENTITY_CHARS:
            return page(request, status=400, error="Choisissez un canal et saisissez un identifiant.", **kept)
        if form_value(request, "confirm") != "1":
            return page(request, status=400, error="Cochez la case de confirmation : l'effacement est définitif.",
                        **kept)  # fmt: skip
        secret = load_identity_secret(console.settings.identity_secret, console.settings.var_dir)
        sender_ids = await console.run(
            functools.partial(sender_ids_for, identity_secret=secret), console.engine, channel, identity
        )
        if not sender_ids:
            return page(request, status=404, error="Aucune conversation connue pour cet identifiant.", **kept)
        report: ErasureReport = await console.run(
            erase_senders, console.engine, sender_ids, media=media_store(console.settings)
        )
        await console.audit(request.ctx.staff.user.email, "erase", channel, report.summary())
        return page(request, notice=f"Effacement fait : {report.summary()}.")

    return bp
