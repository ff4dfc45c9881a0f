"""The editor API that the national « Rendez-vous en mairie » portal (ANTS) calls on a town's booking software,
under /api/ants/: `getManagedMeetingPoints`, `availableTimeSlots`, `searchApplicationIds`.

Who may call: only the portal, which sends the token the town gave it in the `X-HUB-RDV-AUTH-TOKEN` header; it is
compared in constant time with ANTS_AUTH_TOKEN. Without that setting every call is refused (401), as is a call
without the header or with another token. Field names follow the portal's published editor interface
(meeting points: id, name, longitude, latitude, public_entry_address, zip_code, city_name, website; slots per
meeting point id: datetime, callback_url; per pre-application number: meeting_point, datetime, management_url,
cancel_url). Times are the town's wall-clock time written as `YYYY-MM-DDTHH:MMZ`, as the portal shows them exactly
as given (the way RDV Service Public answers it).

A meeting point is a catalog service with a calendar for an ANTS reason (CNI, PASSPORT, CNI-PASSPORT). The links
given to the portal (`website`, `callback_url`, `management_url`, `cancel_url`) lead to the citizen's booking pages
`/rdv/…` under PUBLIC_URL; those pages are built later (issue 23, item 3), the links are their contract.
"""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from bot.clock import utc_now
from bot.town.appointments import ANTS_CODES, AppointmentStore, ants_code, normalise_application_id
from bot.town.appointments.calendar import slots_for_documents
from bot.town.catalog import Catalog
from bot.town.catalog.hours import PARIS

AUTH_HEADER = "X-HUB-RDV-AUTH-TOKEN"
MAX_RANGE_DAYS = 92  # three months of slots at most per call: the portal waits 15 s
MAX_DOCUMENTS = 10
MAX_IDS = 50
# The portal may send several numbers in one value, separated as its own validation allows.
_APPLICATION_SEPARATORS = re.compile(r"[,;:\-/.\s]+")


class AntsError(Exception):
    """A call the API refuses: its HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _wall_clock(moment: datetime) -> str:
    """The town's local time of `moment` as the portal reads and shows it."""
    return moment.astimezone(PARIS).strftime("%Y-%m-%dT%H:%MZ")


def _ids(request: Request, name: str) -> list[str]:
    """A list parameter sent repeated (`a=1&a=2`), as the portal does, or comma-separated."""
    values = [part.strip() for value in request.args.getlist(name, []) for part in value.split(",")]
    values = [value for value in values if value]
    if not values:
        raise AntsError(400, f"{name} missing")
    if len(values) > MAX_IDS:
        raise AntsError(400, f"at most {MAX_IDS} {name}")
    return list(dict.fromkeys(values))


def _day(request: Request, name: str) -> date:
    try:
        return date.fromisoformat(str(request.args.get(name, "")))
    except ValueError:
        raise AntsError(400, f"{name} must be a date YYYY-MM-DD") from None


def _documents(request: Request) -> int:
    try:
        documents = int(request.args.get("documents_number") or 1)
    except ValueError:
        raise AntsError(400, "documents_number must be an integer") from None
    if not 1 <= documents <= MAX_DOCUMENTS:
        raise AntsError(400, f"documents_number must be between 1 and {MAX_DOCUMENTS}")
    return documents


def create_ants_blueprint(
    store: AppointmentStore,
    catalog: Callable[[], Catalog],
    *,
    token: str | None,
    public_url: str,
    clock: Callable[[], datetime] = utc_now,
) -> Blueprint:
    """The three editor endpoints over `store` and the live `catalog` (a blocking getter, called off the loop)."""
    bp = Blueprint("ants", url_prefix="/api/ants")
    base = public_url.rstrip("/")

    def authorised(request: Request) -> bool:
        given = request.headers.get(AUTH_HEADER)
        return token is not None and given is not None and hmac.compare_digest(given.encode(), token.encode())

    @bp.middleware("request")
    async def _guard(request: Request) -> HTTPResponse | None:
        if not authorised(request):
            return json({"error": {"code": 401, "message": f"{AUTH_HEADER} header missing or invalid"}}, status=401)
        return None

    @bp.exception(AntsError)
    async def _refused(request: Request, error: AntsError) -> HTTPResponse:
        return json({"error": {"code": error.status, "message": error.message}}, status=error.status)

    def meeting_points() -> dict[str, dict[str, Any]]:
        """The town's services with an ANTS calendar, in the portal's fields."""
        services = catalog().services
        points: dict[str, dict[str, Any]] = {}
        for calendar in store.calendars():
            service = services.get(calendar.service_id)
            if service is None or ants_code(calendar.reason) is None or service.id in points:
                continue
            points[service.id] = {
                "id": service.id, "name": service.name, "longitude": service.lon, "latitude": service.lat,
                "public_entry_address": service.address.street, "zip_code": service.address.postcode,
                "city_name": service.address.city, "website": f"{base}/rdv",
            }  # fmt: skip
        return points

    def time_slots(ids: list[str], first: date, last: date, code: str, documents: int) -> dict[str, Any]:
        reason = ANTS_CODES[code]
        current = catalog()
        now = clock()
        answer: dict[str, list[dict[str, str]]] = {}
        for calendar in store.calendars():
            if calendar.service_id not in ids or calendar.reason != reason:
                continue
            service = current.services.get(calendar.service_id)
            if service is None:
                continue
            slots = store.slots(calendar, first, last, closures=service.closures, now=now)
            answer[calendar.service_id] = [
                {"datetime": _wall_clock(slot.start),
                 "callback_url": f"{base}/rdv/nouveau?" + urlencode(
                     {"calendrier": calendar.id, "debut": slot.start.astimezone(PARIS).isoformat(timespec="minutes"),
                      "documents": documents})}
                for slot in slots_for_documents(slots, documents)
            ]  # fmt: skip
        return answer

    def applications(numbers: list[str]) -> dict[str, Any]:
        services = catalog().services
        answer: dict[str, list[dict[str, str]]] = {number: [] for number in numbers}
        for booking in store.future_bookings(now=clock(), application_ids=numbers):
            service = services.get(booking.service_id)
            page = f"{base}/rdv/{booking.reference}"
            answer[booking.application_id or ""].append({
                "meeting_point": service.name if service else booking.service_id,
                "datetime": _wall_clock(booking.start), "management_url": page, "cancel_url": page,
            })  # fmt: skip
        return answer

    @bp.get("/getManagedMeetingPoints")
    async def get_managed_meeting_points(request: Request) -> HTTPResponse:
        """The town's meeting points."""
        return json(list((await asyncio.to_thread(meeting_points)).values()))

    @bp.get("/availableTimeSlots")
    async def available_time_slots(request: Request) -> HTTPResponse:
        """Free slots per meeting point between two dates for a reason and a number of applications."""
        ids = _ids(request, "meeting_point_ids")
        first, last = _day(request, "start_date"), _day(request, "end_date")
        if last < first:
            raise AntsError(400, "end_date is before start_date")
        if (last - first) > timedelta(days=MAX_RANGE_DAYS):
            raise AntsError(400, f"at most {MAX_RANGE_DAYS} days per call")
        code = request.args.get("reason") or "CNI"
        if code not in ANTS_CODES:
            raise AntsError(400, f"reason must be one of {', '.join(ANTS_CODES)}")
        documents = _documents(request)
        return json(await asyncio.to_thread(time_slots, ids, first, last, code, documents))

    @bp.get("/searchApplicationIds")
    async def search_application_ids(request: Request) -> HTTPResponse:
        """The future appointments held here by pre-application numbers."""
        numbers = []
        for value in _ids(request, "application_ids"):
            for given in (part for part in _APPLICATION_SEPARATORS.split(value) if part):
                number = normalise_application_id(given)
                if number is None:
                    raise AntsError(400, f"invalid application id: {given[:20]}")
                numbers.append(number)
        if len(numbers) > MAX_IDS:
            raise AntsError(400, f"at most {MAX_IDS} application_ids")
        return json(await asyncio.to_thread(applications, list(dict.fromkeys(numbers))))

    return bp
