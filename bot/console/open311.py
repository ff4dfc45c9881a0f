"""Open311 GeoReport v2 API on the console port, under /open311/v2/ (JSON only)."""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from bot.clock import utc_now
from bot.console.media import MEDIA_ROUTE
from bot.town.catalog.geocoding import Geocoded
from bot.town.media import MediaSigner, media_name
from bot.town.tickets.async_store import AsyncTicketStore
from bot.town.tickets.categories import PROBLEM_TYPES
from bot.town.tickets.model import RequestQuery, Ticket, TicketDraft
from bot.town.tickets.open311 import service_definition, service_request, services
from bot.town.tickets.references import parse_reference

OPEN311_CHANNEL = "open311"
DEFAULT_WINDOW = timedelta(days=90)
MAX_REQUESTS = 1000
MAX_DESCRIPTION_CHARS = 4000
MAX_ADDRESS_CHARS = 300
MAX_URL_CHARS = 1000


def open311_error(status: int, description: str) -> HTTPResponse:
    """An Open311 error body: a list of {code, description}."""
    return json([{"code": status, "description": description}], status=status)


class Open311Error(Exception):
    """A request the API refuses; becomes an Open311 error response."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _with_json_suffix(name: str) -> str:
    """`name` without its `.json` suffix; other formats (xml) are not served."""
    if not name.endswith(".json"):
        raise Open311Error(404, "Seul le format JSON est disponible (.json).")
    return name[: -len(".json")]


def _fields(request: Request) -> Mapping[str, Any]:
    """POST parameters, from a JSON object or a form (first value of each field)."""
    if (request.content_type or "").startswith("application/json"):
        try:
            body = request.json
        except Exception:  # Sanic raises InvalidUsage for malformed JSON
            raise Open311Error(400, "Corps JSON invalide.") from None
        if not isinstance(body, dict):
            raise Open311Error(400, "Le corps JSON doit être un objet.")
        return body
    return {key: values[0] for key, values in request.form.items() if values}


def _text(fields: Mapping[str, Any], key: str, max_chars: int) -> str | None:
    value = fields.get(key)
    if value is None:
        return None
    text = str(value).strip()
    if len(text) > max_chars:
        raise Open311Error(400, f"{key} dépasse {max_chars} caractères.")
    return text or None


def _coordinate(fields: Mapping[str, Any], key: str, limit: float) -> float | None:
    value = fields.get(key)
    if value is None or str(value).strip() == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Open311Error(400, f"{key} doit être un nombre décimal.") from None
    if not -limit <= number <= limit or number != number:
        raise Open311Error(400, f"{key} hors limites.")
    return number


def _draft_from(
    fields: Mapping[str, Any], idempotency_key: str | None, media_reference: Callable[[str], str | None]
) -> TicketDraft:
    """Validate POST requests.json parameters into a ticket draft; a photo must already be in the media store."""
    code = _text(fields, "service_code", 40)
    if not code:
        raise Open311Error(400, "service_code manquant.")
    if code not in PROBLEM_TYPES:
        raise Open311Error(400, f"service_code inconnu : {code}.")
    lat, long = _coordinate(fields, "lat", 90.0), _coordinate(fields, "long", 180.0)
    if (lat is None) != (long is None):
        raise Open311Error(400, "lat et long vont ensemble.")
    address = _text(fields, "address_string", MAX_ADDRESS_CHARS) or _text(fields, "address_id", MAX_ADDRESS_CHARS)
    if lat is None and address is None:
        raise Open311Error(400, "Localisation manquante : lat/long, address_string ou address_id.")
    media_url = _text(fields, "media_url", MAX_URL_CHARS)
    if media_url and urlsplit(media_url).scheme not in ("http", "https"):
        raise Open311Error(400, "media_url doit être une URL http(s).")
    if media_url:
        # Photos of other hosts are refused: they would be published, tracked and shown to staff unchecked.
        media_url = media_reference(media_url)
        if media_url is None:
            raise Open311Error(400, "media_url doit désigner une photo déposée sur le guichet de la ville.")
    contact = " / ".join(c for c in (_text(fields, "email", 200), _text(fields, "phone", 40)) if c) or None
    return TicketDraft(
        service_code=code,
        description=_text(fields, "description", MAX_DESCRIPTION_CHARS) or "",
        address=address,
        lat=lat,
        long=long,
        media_url=media_url,
        channel=OPEN311_CHANNEL,
        sender_id=None,
        contact=contact,
        idempotency_key=f"open311:{idempotency_key}" if idempotency_key else None,
        subscribe_creator=False,
    )


def _parse_datetime(value: str, zone: ZoneInfo, key: str) -> datetime:
    """An ISO 8601 date or datetime; without an offset it is the town's local time."""
    text = value.strip().replace(" ", "T")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise Open311Error(400, f"{key} n'est pas une date ISO 8601.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _query_from(args: Mapping[str, Any], zone: ZoneInfo, now: datetime) -> RequestQuery:
    """Validate GET requests.json filters; without dates, the last 90 days."""
    refs = _csv(args.get("service_request_id"))
    if refs:
        return RequestQuery(refs=refs[:MAX_REQUESTS])
    statuses = tuple(s.lower() for s in _csv(args.get("status")))
    if any(s not in ("open", "closed") for s in statuses):
        raise Open311Error(400, "status vaut open ou closed.")
    start = _parse_datetime(args["start_date"], zone, "start_date") if args.get("start_date") else None
    end = _parse_datetime(args["end_date"], zone, "end_date") if args.get("end_date") else None
    if start is None:
        start = (end or now) - DEFAULT_WINDOW
    if end is not None and start > end:
        raise Open311Error(400, "start_date est postérieure à end_date.")
    return RequestQuery(
        service_codes=_csv(args.get("service_code")), statuses=statuses, start=start, end=end, limit=MAX_REQUESTS
    )


def create_open311_blueprint(
    store: AsyncTicketStore,
    *,
    api_key: str | None,
    timezone_name: str = "Europe/Paris",
    clock: Callable[[], datetime] = utc_now,
    media_signer: MediaSigner | None = None,
    geocode: Callable[[str], Geocoded | None] | None = None,
) -> Blueprint:
    """The GeoReport v2 endpoints over `store`; POST needs `api_key` (disabled when it is None).

    A request posted with an `address_string` and no `lat`/`long` is located by `geocode` (blocking: run in a
    thread) when the town's address base knows the address precisely (house number, interpolated, intersection).

    GET is public and publishes what `service_request` allows anyone to read. With the API key (`api_key` in the
    query), GET also gives exact coordinates and each photo as a URL of the console's media route signed by
    `media_signer`, which expires (MEDIA_URL_TTL_SECONDS).
    """
    zone = ZoneInfo(timezone_name)
    bp = Blueprint("open311", url_prefix="/open311/v2")

    def keyed(given: Any) -> bool:
        """Whether `given` is the configured API key (never, when none is configured)."""
        return api_key is not None and bool(given) and hmac.compare_digest(str(given).encode(), api_key.encode())

    def published(request: Request, ticket: Ticket) -> dict[str, Any]:
        """The ticket as this request may read it: the public view, or the back office's with the key."""
        if not keyed(request.args.get("api_key")):
            return service_request(ticket, zone)
        name = media_name(ticket.media_url)
        base = f"{request.scheme}://{request.host}{MEDIA_ROUTE}"
        url = media_signer.url(base, name) if name and media_signer else None
        return service_request(ticket, zone, media_url=url, exact_position=True)

    @bp.exception(Open311Error)
    async def refused(request: Request, error: Open311Error) -> HTTPResponse:
        return open311_error(error.status, error.description)

    @bp.get("/services.json")
    async def list_services(request: Request) -> HTTPResponse:
        """GET services.json."""
        return json(services())

    @bp.get("/services/<name>")
    async def show_service(request: Request, name: str) -> HTTPResponse:
        """GET services/{code}.json."""
        definition = service_definition(_with_json_suffix(name))
        if definition is None:
            return open311_error(404, "Service inconnu.")
        return json(definition)

    @bp.post("/requests.json")
    async def create_request(request: Request) -> HTTPResponse:
        """POST requests.json: file a service request (API key required)."""
        fields = _fields(request)
        given = fields.get("api_key") or request.args.get("api_key")
        if not given:
            return open311_error(401, "api_key manquante.")
        if not keyed(given):
            return open311_error(403, "api_key invalide.")
        media = store.sync.media
        reference = media.reference if media is not None else lambda _url: None
        draft = _draft_from(fields, request.headers.get("idempotency-key"), reference)
        if geocode is not None and draft.lat is None and draft.address:
            found = await asyncio.to_thread(geocode, draft.address)
            if found is not None and not found.approximate:
                draft = dataclasses.replace(draft, lat=found.lat, long=found.lon, street=found.street)
        try:
            ticket = await store.create_ticket(draft)
        except ValueError as error:
            return open311_error(400, str(error))
        notice = f"Signalement enregistré sous la référence {ticket.ref}."
        return json([{"service_request_id": ticket.ref, "service_notice": notice, "account_id": None}], status=201)

    @bp.get("/requests.json")
    async def list_requests(request: Request) -> HTTPResponse:
        """GET requests.json with Open311 filters."""
        args = {key: request.args.get(key) for key in request.args}
        tickets = await store.list_requests(_query_from(args, zone, clock()))
        return json([published(request, t) for t in tickets])

    @bp.get("/requests/<name>")
    async def show_request(request: Request, name: str) -> HTTPResponse:
        """GET requests/{id}.json."""
        ref = parse_reference(_with_json_suffix(name))
        ticket = await store.get_ticket(ref) if ref else None
        if ticket is None:
            return open311_error(404, "Demande inconnue.")
        return json([published(request, ticket)])

    return bp
