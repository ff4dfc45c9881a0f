"""The console's catalog pages, `/catalog`: services, procedures and waste collection kept current by staff.

Who may do what (checked here, on the server): every signed-in staff member reads the catalog and adds or removes a
service's exceptional closures; only admins edit everything else and decide on directory-import drafts. Every change
goes through the catalog store (validated by the catalog's own rules, versioned, so running processes answer from
it within seconds) and into the audit log with each changed field before and after.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console import catalog_forms as forms
from bot.console.catalog_preview import preview_for
from bot.console.web import SECURITY_HEADERS, Console, form_value, staff_guard
from bot.settings import ROOT
from bot.town.catalog import CatalogError
from bot.town.catalog.closures import ClosureError, closure_spans, parse_day
from bot.town.catalog.drafts import DraftNotPending, DraftStore, changes_text, field_changes, shown
from bot.town.catalog.store import CatalogStore, UnknownItem

DOMAIN_FILE = ROOT / "domain.yml"
MAX_REASON_CHARS = 200
NOTICES = {  # what a page says after a change, by the code its redirect carries
    "enregistre": "Modification enregistrée : l'assistant l'utilise dans quelques secondes.",
    "fermeture": "Fermeture ajoutée : l'assistant l'annonce dans quelques secondes.",
    "retrait": "Fermeture retirée : l'assistant donne de nouveau les horaires habituels.",
    "fusion": "Fiche fusionnée dans le catalogue.",
    "ecarte": "Brouillon écarté : le catalogue est inchangé.",
}


def register_catalog_pages(app: Sanic, console: Console) -> CatalogStore:
    """Mount `/catalog` on the console; the catalog's tables are created (and seeded when empty) at start."""
    store = CatalogStore(console.engine)
    app.blueprint(create_catalog_blueprint(console, store))

    @app.before_server_start
    async def _create_catalog_schema(_app: Sanic, _loop: object) -> None:
        def prepare() -> None:
            store.create_schema()
            try:
                store.seed(console.settings.town_data_dir)
            except CatalogError:
                pass  # `make run` refuses an invalid seed with the message of `catalog validate`; pages say it too

        await asyncio.to_thread(prepare)

    return store


def create_catalog_blueprint(console: Console, store: CatalogStore) -> Blueprint:
    """The staff routes of the catalog."""
    bp = Blueprint(f"console_catalog_{id(console)}")
    staff_page = staff_guard(console)
    admin_page = staff_guard(console, admin=True)
    drafts = DraftStore(store)

    @bp.middleware("response")
    async def _headers(_request: Request, resp: HTTPResponse) -> None:
        for name, value in SECURITY_HEADERS.items():
            resp.headers.setdefault(name, value)

    def actor(request: Request) -> str:
        return str(request.ctx.staff.user.email)

    def not_found(request: Request) -> HTTPResponse:
        return console.render(request, "error.html", status=404, title="Fiche introuvable",
                              message="Le catalogue ne contient pas cette fiche.")  # fmt: skip

    async def audit_change(request: Request, action: str, target: str, before: Any, after: Any) -> None:
        await console.audit(actor(request), action, target, changes_text(field_changes(before, after)))

    # --- the index and the drafts --------------------------------------------------------------

    async def index_page(request: Request, *, error: str | None = None, status: int = 200) -> HTTPResponse:
        version, documents = await console.run(store.snapshot)
        reviews = await console.run(drafts.reviews, documents)
        history = await console.run(functools.partial(store.history, limit=15))
        return console.render(
            request, "catalog.html", status=status, section="catalog", version=version, documents=documents,
            reviews=reviews, history=history, shown=shown, notice=notice_of(request), error=error,
        )  # fmt: skip

    @bp.get("/catalog", name="catalog")
    @staff_page
    async def catalog_index(request: Request) -> HTTPResponse:
        return await index_page(request)

    async def decide(request: Request, draft_id: int, accept: bool) -> HTTPResponse:
        try:
            draft = await console.run(drafts.get, draft_id)
            if accept:
                before = await console.run(_item_or_none, store, "service", draft.service_id)
                await console.run(drafts.accept, draft_id, actor(request))
                after = await console.run(store.get_item, "service", draft.service_id)
                await audit_change(request, "catalog_draft_accept", f"service:{draft.service_id}", before, after)
                notice = "fusion"
            else:
                await console.run(drafts.reject, draft_id, actor(request))
                await console.audit(actor(request), "catalog_draft_reject", f"service:{draft.service_id}",
                                    f"brouillon {draft.source} écarté")  # fmt: skip
                notice = "ecarte"
        except DraftNotPending:
            return await index_page(request, error="Ce brouillon a déjà été traité ou n'existe pas.", status=409)
        except CatalogError as error:
            return await index_page(request, error=f"Fusion refusée : {error.french}", status=400)
        return _back("/catalog", notice)

    @bp.post("/catalog/brouillons/<draft_id:int>/accepter", name="catalog_draft_accept")
    @admin_page
    async def accept_draft(request: Request, draft_id: int) -> HTTPResponse:
        return await decide(request, draft_id, accept=True)

    @bp.post("/catalog/brouillons/<draft_id:int>/ecarter", name="catalog_draft_reject")
    @admin_page
    async def reject_draft(request: Request, draft_id: int) -> HTTPResponse:
        return await decide(request, draft_id, accept=False)

    # --- services ------------------------------------------------------------------------------

    async def service_page(
        request: Request, service_id: str, *, fields: Mapping[str, str] | None = None, errors: dict[str, str] | None
        = None, error: str | None = None, closure_error: str | None = None, candidate: dict[str, Any] | None = None,
        status: int = 200, closure_form: Mapping[str, str] | None = None,
    ) -> HTTPResponse:  # fmt: skip
        try:
            document = await console.run(store.get_item, "service", service_id)
        except UnknownItem:
            return not_found(request)
        preview, preview_error = None, None
        try:
            catalog = await console.run(store.preview_item, "service", service_id, candidate or document)
            preview = preview_for(catalog, service_id, console.settings.town_clock().now(), DOMAIN_FILE,
                                  console.settings.town_name)  # fmt: skip
        except CatalogError as invalid:
            preview_error = invalid.french
        shown_fields = dict(fields or forms.service_fields(document))
        return console.render(
            request, "catalog_service.html", status=status,
            readonly=read_only(request), section="catalog", service_id=service_id,
            document=document, fields=shown_fields, errors=errors or {}, error=error, closure_error=closure_error,
            closures=closure_rows(document), preview=preview, preview_error=preview_error,
            previewing=candidate is not None, days=forms.DAYS, day_labels=forms.DAY_LABELS,
            range_count=functools.partial(forms.range_count, shown_fields),
            season_count=forms.season_count(shown_fields), closure_form=closure_form or {},
            notice=notice_of(request),
        )  # fmt: skip

    @bp.get("/catalog/services/<service_id:str>", name="catalog_service")
    @staff_page
    async def service(request: Request, service_id: str) -> HTTPResponse:
        return await service_page(request, service_id)

    @bp.post("/catalog/services/<service_id:str>", name="catalog_service_save")
    @admin_page
    async def save_service(request: Request, service_id: str) -> HTTPResponse:
        return await save_item(request, "service", service_id, forms.service_document, service_page)

    @bp.post("/catalog/services/<service_id:str>/fermetures", name="catalog_closure_add")
    @staff_page
    async def add_closure(request: Request, service_id: str) -> HTTPResponse:
        typed = {key: (form_value(request, key) or "").strip() for key in ("from", "to", "reason")}
        try:
            start = parse_day(typed["from"], "date de début")
            end = parse_day(typed["to"], "date de fin") if typed["to"] else None
            reason = typed["reason"][:MAX_REASON_CHARS]
            before = await console.run(store.get_item, "service", service_id)
            await console.run(store.add_closure, service_id, start, end, reason, actor(request))
        except UnknownItem:
            return not_found(request)
        except ClosureError as refused:
            return await service_page(request, service_id, closure_error=refused.french, status=400,
                                      closure_form=typed)  # fmt: skip
        except CatalogError as invalid:
            return await service_page(request, service_id, closure_error=invalid.french, status=400,
                                      closure_form=typed)  # fmt: skip
        after = await console.run(store.get_item, "service", service_id)
        await audit_change(request, "catalog_closure_add", f"service:{service_id}", before, after)
        return _back(f"/catalog/services/{quote(service_id)}", "fermeture")

    @bp.post("/catalog/services/<service_id:str>/fermetures/retirer", name="catalog_closure_remove")
    @staff_page
    async def remove_closure(request: Request, service_id: str) -> HTTPResponse:
        try:
            start = parse_day(form_value(request, "from") or "", "date de début")
            before = await console.run(store.get_item, "service", service_id)
            await console.run(store.remove_closure, service_id, start, actor(request))
        except UnknownItem:
            return not_found(request)
        except ClosureError as refused:
            return await service_page(request, service_id, closure_error=refused.french, status=400)
        after = await console.run(store.get_item, "service", service_id)
        await audit_change(request, "catalog_closure_remove", f"service:{service_id}", before, after)
        return _back(f"/catalog/services/{quote(service_id)}", "retrait")

    # --- procedures and waste ------------------------------------------------------------------

    async def procedure_page(
        request: Request, procedure_id: str, *, fields: Mapping[str, str] | None = None,
        errors: dict[str, str] | None = None, error: str | None = None, status: int = 200, **_: Any,
    ) -> HTTPResponse:  # fmt: skip
        try:
            document = await console.run(store.get_item, "procedure", procedure_id)
        except UnknownItem:
            return not_found(request)
        _version, documents = await console.run(store.snapshot)
        return console.render(
            request, "catalog_procedure.html", status=status,
            readonly=read_only(request), section="catalog", procedure_id=procedure_id,
            fields=fields or forms.procedure_fields(document), errors=errors or {}, error=error,
            services=[(s["id"], s.get("name", s["id"])) for s in documents.services], notice=notice_of(request),
        )  # fmt: skip

    @bp.get("/catalog/procedures/<procedure_id:str>", name="catalog_procedure")
    @staff_page
    async def procedure(request: Request, procedure_id: str) -> HTTPResponse:
        return await procedure_page(request, procedure_id)

    @bp.post("/catalog/procedures/<procedure_id:str>", name="catalog_procedure_save")
    @admin_page
    async def save_procedure(request: Request, procedure_id: str) -> HTTPResponse:
        return await save_item(request, "procedure", procedure_id, forms.procedure_document, procedure_page)

    async def waste_page(
        request: Request, _item_id: str = "waste", *, fields: Mapping[str, str] | None = None,
        errors: dict[str, str] | None = None, error: str | None = None, status: int = 200, **_: Any,
    ) -> HTTPResponse:  # fmt: skip
        document = await console.run(store.get_item, "waste", "waste")
        return console.render(
            request, "catalog_waste.html", status=status,
            readonly=read_only(request), section="catalog", document=document,
            fields=fields or forms.waste_fields(document), errors=errors or {}, error=error,
            notice=notice_of(request),
        )  # fmt: skip

    @bp.get("/catalog/collecte", name="catalog_waste")
    @staff_page
    async def waste(request: Request) -> HTTPResponse:
        return await waste_page(request)

    @bp.post("/catalog/collecte", name="catalog_waste_save")
    @admin_page
    async def save_waste(request: Request) -> HTTPResponse:
        return await save_item(request, "waste", "waste", forms.waste_document, waste_page)

    # --- saving an edited item -----------------------------------------------------------------

    async def save_item(
        request: Request, kind: str, item_id: str, to_document: Callable[[Any, Any], dict[str, Any]],
        page: Callable[..., Any],
    ) -> HTTPResponse:  # fmt: skip
        """Validate the posted form as the item's document; preview or save it; the errors next to their fields."""
        form = {key: request.form.get(key) or "" for key in request.form}
        try:
            before = await console.run(store.get_item, kind, item_id)
        except UnknownItem:
            return not_found(request)
        try:
            after = to_document(form, before)
            if form.get("intent") == "preview":
                await console.run(store.preview_item, kind, item_id, after)
                return await page(request, item_id, fields=form, candidate=after)
            await console.run(store.put_item, kind, item_id, after, actor(request), "console_edit")
        except forms.FormError as bad:
            return await page(request, item_id, fields=form, errors={bad.field: bad.french}, status=400,
                              error="La fiche n'est pas enregistrée : corrigez le champ signalé.")  # fmt: skip
        except CatalogError as invalid:
            field = forms.error_field(kind, invalid.entry, invalid.field, before)
            return await page(request, item_id, fields=form, errors={field: invalid.french_problem}, status=400,
                              error=f"La fiche n'est pas enregistrée : {invalid.french}")  # fmt: skip
        stored = await console.run(store.get_item, kind, item_id)
        await audit_change(request, f"catalog_{kind}_edit", f"{kind}:{item_id}", before, stored)
        path = {"service": "/catalog/services/", "procedure": "/catalog/procedures/"}.get(kind)
        target = f"{path}{quote(item_id)}" if path else "/catalog/collecte"
        return _back(target, "enregistre")

    return bp


def _item_or_none(store: CatalogStore, kind: str, item_id: str) -> dict[str, Any] | None:
    try:
        return store.get_item(kind, item_id)
    except UnknownItem:
        return None


@dataclass(frozen=True)
class ClosureRow:
    """A closure as the service page lists it: its days, its hours when it is partial, its reason."""

    start: date
    end: date
    hours: str | None
    reason: str


def closure_rows(document: Mapping[str, Any]) -> list[ClosureRow]:
    """The closures of a service document, with the hours of a partial one (closure_spans reads whole days)."""
    raws = document.get("closures") or []
    return [ClosureRow(span.start, span.end, raw.get("hours"), span.reason)
            for raw, span in zip(raws, closure_spans(dict(document)), strict=True)]  # fmt: skip


def read_only(request: Request) -> bool:
    """Whether the signed-in staff member sees the catalog's forms without saving them (agents)."""
    return not request.ctx.staff.user.is_admin


def notice_of(request: Request) -> str | None:
    """The notice a redirect asked the page to show (only the console's own texts, never one from the address)."""
    return NOTICES.get(request.args.get("fait") or "")


def _back(path: str, notice: str) -> HTTPResponse:
    """A redirect after a POST, to a page that shows the notice of that code."""
    return response.redirect(f"{path}?{urlencode({'fait': notice})}", status=303)
