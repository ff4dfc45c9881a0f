"""Open311 GeoReport v2 shapes of tickets and categories (JSON dicts, no HTTP here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.town.privacy.masking import mask_text
from bot.town.tickets.categories import PROBLEM_TYPES, SERVICE_GROUPS
from bot.town.tickets.model import Ticket

# Public coordinates are rounded to 3 decimals: a cell of about 110 m north-south and 80 m east-west at the town's
# latitude (43° N), enough to see where the problem is, not in front of whose door the citizen stood.
PUBLIC_COORDINATE_DECIMALS = 3


def services() -> list[dict[str, Any]]:
    """GET services.json: one realtime service per ticket category."""
    return [
        {
            "service_code": code,
            "service_name": name,
            "description": name,
            "metadata": False,
            "type": "realtime",
            "keywords": code.replace("_", ","),
            "group": SERVICE_GROUPS.get(code, "Divers"),
        }
        for code, name in PROBLEM_TYPES.items()
    ]


def service_definition(code: str) -> dict[str, Any] | None:
    """GET services/{code}.json: no extra attributes are needed for any category."""
    if code not in PROBLEM_TYPES:
        return None
    return {"service_code": code, "attributes": []}


def _iso(value: datetime | None, zone: ZoneInfo) -> str | None:
    return value.astimezone(zone).isoformat(timespec="seconds") if value else None


def _public(coordinate: float | None) -> float | None:
    return None if coordinate is None else round(coordinate, PUBLIC_COORDINATE_DECIMALS)


def service_request(
    ticket: Ticket, zone: ZoneInfo, *, media_url: str | None = None, exact_position: bool = False
) -> dict[str, Any]:
    """A ticket as an Open311 service request; never carries the contact or the sender id.

    What anyone may read: the description masked (again, for tickets stored before masking at intake), coordinates
    rounded (`PUBLIC_COORDINATE_DECIMALS`) and no photo. A client with the API key is given `exact_position` and a
    signed, expiring `media_url` by the caller. Both read the priority (`urgent` for a danger, else `normal`) in
    `extended_attributes`, the GeoReport v2 extension for fields the standard lacks: it is not personal data.
    """
    position = (ticket.lat, ticket.long) if exact_position else (_public(ticket.lat), _public(ticket.long))
    return {
        "service_request_id": ticket.ref,
        "status": ticket.status,
        "status_notes": ticket.state_reason if ticket.state == "non_retenu" else ticket.status_notes,
        "service_name": PROBLEM_TYPES.get(ticket.service_code, ticket.service_code),
        "service_code": ticket.service_code,
        "description": mask_text(ticket.description),
        "agency_responsible": None,
        "service_notice": None,
        "requested_datetime": _iso(ticket.requested_datetime, zone),
        "updated_datetime": _iso(ticket.updated_datetime, zone),
        "expected_datetime": _iso(ticket.expected_datetime, zone),
        "address": ticket.address,
        "address_id": None,
        "zipcode": None,
        "lat": position[0],
        "long": position[1],
        "media_url": media_url,
        "extended_attributes": {"priority": ticket.priority},
    }


def forward_form(ticket: Ticket) -> dict[str, str]:
    """The POST requests.json form that forwards a new ticket to an external back office (no personal data).

    The photo is not in it: a ticket's `media:<name>` means nothing over there, and a signed, expiring URL is for
    the forwarder to add when it sends.
    """
    form = {
        "service_code": ticket.service_code,
        "description": ticket.description,
    }
    if ticket.lat is not None and ticket.long is not None:
        form["lat"], form["long"] = repr(ticket.lat), repr(ticket.long)
    if ticket.address:
        form["address_string"] = ticket.address
    return form
