"""The console's appointment pages (/rendez-vous): calendars, the day's list for the counter (printable), presence
and cancellation; admins also open slots and close a calendar for a day.

Who may do what: every signed-in agent sees the calendars and the day's list and marks a citizen « venu » or
« absent » (counter work); only admins open slots, close a day and cancel a booking. Every change is audited.
"""

from __future__ import annotations

import asyncio
from datetime import date
from urllib.parse import urlencode

from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console.web import SECURITY_HEADERS, Console, date_value, form_value, int_value, staff_guard
from bot.town.appointments import (
    ATTENDED,
    BOOKED,
    NO_SHOW,
    REASON_LABELS,
    AppointmentStore,
    BookingNotFound,
    OpeningError,
    parse_hours,
)
from bot.town.appointments.calendar import WEEKDAY_NAMES
from bot.town.catalog.live import LiveCatalog
from bot.town.catalog.store import CatalogStore

STATUS_LABELS = {BOOKED: "prévu", ATTENDED: "venu", NO_SHOW: "absent", "cancelled": "annulé"}
PRESENCE = {"venu": ATTENDED, "absent": NO_SHOW, "prevu": BOOKED}
MAX_REASON_CHARS = 300


def register_appointment_pages(app: Sanic, console: Console) -> AppointmentStore:
    """Mount /rendez-vous on `app`; the appointment and catalog tables are created when the server starts. The store
    and the live catalog stay on `app.ctx` (`appointments`, `live_catalog`) for the national portal's API."""
    store = AppointmentStore(console.engine)
    settings = console.settings
    catalog = LiveCatalog(CatalogStore(console.engine), settings.town_data_dir, settings.catalog_check_seconds)
    app.ctx.appointments, app.ctx.live_catalog = store, catalog
    app.blueprint(create_appointments_blueprint(console, store, catalog))

    @app.before_server_start
    async def _create_appointment_schema(_app: Sanic, _loop: object) -> None:
        await asyncio.to_thread(store.create_schema)
        await asyncio.to_thread(CatalogStore(console.engine).create_schema)

    return store


def create_appointments_blueprint(console: Console, store: AppointmentStore, catalog: LiveCatalog) -> Blueprint:
    """The staff routes of appointments."""
    bp = Blueprint(f"console_appointments_{id(console)}")
    staff_page = staff_guard(console)
    admin_page = staff_guard(console, admin=True)

    @bp.middleware("response")
    async def _headers(_request: Request, resp: HTTPResponse) -> None:
        for name, value in SECURITY_HEADERS.items():
            resp.headers.setdefault(name, value)

    def today() -> date:
        return console.settings.town_clock().now().date()

    async def page(request: Request, day: date, *, error: str | None = None, status: int = 200) -> HTTPResponse:
        calendars = await console.run(store.calendars)
        bookings = await console.run(store.bookings_on, day, include_cancelled=True)
        services = (await console.run(catalog.get)).services
        return console.render(
            request, "appointments.html", status=status, section="rendez-vous", day=day, calendars=calendars,
            bookings=bookings, services=services, reasons=REASON_LABELS, statuses=STATUS_LABELS, error=error,
            weekdays=WEEKDAY_NAMES, done=request.args.get("fait"), tz=console.tz,
        )  # fmt: skip

    def back(day: str | None, done: str) -> HTTPResponse:
        return response.redirect("/rendez-vous?" + urlencode({"jour": day or "", "fait": done}), status=303)

    @bp.get("/rendez-vous", name="appointments")
    @staff_page
    async def appointments(request: Request) -> HTTPResponse:
        return await page(request, date_value(request.args.get("jour")) or today())

    @bp.post("/rendez-vous/<reference:str>/presence", name="appointment_presence")
    @staff_page
    async def presence(request: Request, reference: str) -> HTTPResponse:
        day = date_value(form_value(request, "jour")) or today()
        status = PRESENCE.get(form_value(request, "presence") or "")
        if status is None:
            return await page(request, day, error="Choisissez « venu » ou « absent ».", status=400)
        actor = request.ctx.staff.user.email
        try:
            await console.run(store.mark, reference, status, actor=actor)
        except BookingNotFound:
            return await page(request, day, error="Rendez-vous introuvable ou annulé.", status=404)
        await console.audit(actor, "appointment_presence", reference, STATUS_LABELS[status])
        return back(day.isoformat(), "presence")

    @bp.post("/rendez-vous/<reference:str>/annuler", name="appointment_cancel")
    @admin_page
    async def cancel(request: Request, reference: str) -> HTTPResponse:
        day = date_value(form_value(request, "jour")) or today()
        actor = request.ctx.staff.user.email
        try:
            await console.run(store.cancel, reference, actor=actor)
        except BookingNotFound:
            return await page(request, day, error="Ce rendez-vous n'est plus à venir : il ne peut être annulé.",
                              status=404)  # fmt: skip
        await console.audit(actor, "appointment_cancel", reference, "annulé par la mairie")
        return back(day.isoformat(), "annulation")

    @bp.post("/rendez-vous/ouvrir", name="appointment_open")
    @admin_page
    async def open_slots(request: Request) -> HTTPResponse:
        service, reason = form_value(request, "service") or "", form_value(request, "motif") or ""
        first, last = date_value(form_value(request, "du")), date_value(form_value(request, "au"))
        days = tuple(int(d) for d in request.form.getlist("jours", []) if d.isdigit() and int(d) < 7)
        if first is None or last is None:
            return await page(request, today(), error="Indiquez les dates de début et de fin.", status=400)
        if not days:
            return await page(request, today(), error="Cochez au moins un jour de la semaine.", status=400)
        services = (await console.run(catalog.get)).services
        actor = request.ctx.staff.user.email
        try:
            start, end = parse_hours(f"{form_value(request, 'debut')}-{form_value(request, 'fin')}")
            opening = await console.run(
                store.open, service, reason, first, last, days, start, end,
                int_value(form_value(request, "duree"), 0), int_value(form_value(request, "guichets"), 0),
                known_services=set(services), actor=actor,
            )  # fmt: skip
        except OpeningError as error:
            return await page(request, today(), error=error.french, status=400)
        await console.audit(actor, "appointment_open", f"{service}/{reason}", opening.describe())
        return back("", "ouverture")

    @bp.post("/rendez-vous/ouvertures/<opening_id:int>/supprimer", name="appointment_remove_opening")
    @admin_page
    async def remove_opening(request: Request, opening_id: int) -> HTTPResponse:
        actor = request.ctx.staff.user.email
        try:
            removed = await console.run(store.remove_opening, opening_id)
        except OpeningError as error:
            return await page(request, today(), error=error.french, status=404)
        await console.audit(actor, "appointment_remove_opening", str(removed.calendar_id), removed.describe())
        return back("", "suppression")

    @bp.post("/rendez-vous/calendriers/<calendar_id:int>/fermeture", name="appointment_close_day")
    @admin_page
    async def close_day(request: Request, calendar_id: int) -> HTTPResponse:
        day = date_value(form_value(request, "jour_ferme"))
        why = (form_value(request, "motif") or "").strip()[:MAX_REASON_CHARS]
        if day is None:
            return await page(request, today(), error="Indiquez le jour fermé.", status=400)
        actor = request.ctx.staff.user.email
        try:
            await console.run(store.close_day, calendar_id, day, why, actor=actor)
        except OpeningError as error:
            return await page(request, today(), error=error.french, status=400)
        await console.audit(actor, "appointment_close_day", str(calendar_id), f"{day.isoformat()} — {why}")
        return back("", "fermeture")

    return bp
