"""The town's external Open311 back office (OPEN311_FORWARD_URL): new tickets forwarded, its status changes read back.

Forwarding is an outbox job of kind "forward" (retried with backoff, visible on the ticket page, retried by staff
when it gave up). The POST carries the back office's key (`api_key`, as GeoReport v2 asks), and the photo as a
signed URL of the console's media route that expires. The back office's `service_request_id` (or its `token`,
resolved later through `GET tokens/{token}.json`) is kept on the ticket; `Open311StatusPoller` then asks the back
office, at a bounded rate, about the open tickets it holds, and a change there becomes a status change here, with
the same notification to the citizen as a change made by staff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from bot.town.media import media_name
from bot.town.notify import NotificationError
from bot.town.tickets.model import OutboxJob, Ticket

if TYPE_CHECKING:
    from bot.town.tickets.store import TicketStore

logger = logging.getLogger(__name__)

BACK_OFFICE_ACTOR = "open311:back-office"
POLL_BATCH = 50  # ids per GET requests.json (the URL stays short)


def requests_url(forward_url: str) -> str:
    """`<forward_url>/requests.json` (or the URL itself when it already names a .json resource)."""
    base = forward_url.rstrip("/")
    return base if base.endswith(".json") else f"{base}/requests.json"


def _first(answer: Any) -> dict[str, Any]:
    first = answer[0] if isinstance(answer, list) and answer else answer
    return first if isinstance(first, dict) else {}


class Open311Forwarder:
    """POSTs a ticket, form-encoded, to `<forward_url>/requests.json`; returns the back office's request id."""

    def __init__(
        self,
        forward_url: str,
        *,
        api_key: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout_seconds: float = 15.0,
        tickets: TicketStore | None = None,
        photo_url: Callable[[str], str] | None = None,
    ) -> None:
        self.url = requests_url(forward_url)
        self.api_key = api_key
        self._client = client
        self._owns_client = client is None
        self.timeout_seconds = timeout_seconds
        self.tickets = tickets
        self.photo_url = photo_url

    async def send(self, job: OutboxJob) -> str | None:
        """Forward one ticket; a non-2xx answer raises `NotificationError`."""
        ref = job.dedup_key.partition(":")[2]
        form = {k: str(v) for k, v in job.payload.items() if v is not None}
        ticket = await asyncio.to_thread(self.tickets.get_ticket, ref) if self.tickets is not None else None
        name = media_name(ticket.media_url) if ticket is not None else None
        if name and self.photo_url is not None:
            form["media_url"] = self.photo_url(name)  # signed, expiring: a URL the back office can open for a while
        if self.api_key:
            form["api_key"] = self.api_key
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_seconds)
        try:
            response = await self._client.post(self.url, data=form)
        except httpx.HTTPError as error:
            raise NotificationError(f"Open311 back office unreachable: {error}") from error
        if not response.is_success:
            raise NotificationError(f"Open311 back office answered {response.status_code}: {response.text[:200]}")
        # Accepted: never raise from here on, or a retry would file the same ticket twice over there.
        try:
            first = _first(response.json())
        except ValueError:
            return response.text[:200] or None
        external_id, token = first.get("service_request_id"), first.get("token")
        if self.tickets is not None and ticket is not None:
            try:
                await asyncio.to_thread(
                    self.tickets.record_forward,
                    ref,
                    external_id=str(external_id) if external_id else None,
                    token=str(token) if token and not external_id else None,
                )
            except Exception:  # the ticket over there exists: losing its id is better than filing it twice
                logger.exception("Back office id of %s not recorded", ref)
        found = external_id or token
        return str(found) if found is not None else None

    async def aclose(self) -> None:
        """Close the HTTP client if this forwarder created it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None


class Open311StatusPoller:
    """Reads the back office's status of the open tickets it holds and passes each change on to the citizen.

    Back office `closed` makes the ticket « Traité » (with the back office's notes); new notes on an `open` request
    make a « Nouveau » ticket « Pris en charge » and are passed on with its current state otherwise.
    """

    def __init__(
        self,
        forward_url: str,
        tickets: TicketStore,
        *,
        api_key: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout_seconds: float = 15.0,
    ) -> None:
        self.requests_url = requests_url(forward_url)
        self.base_url = self.requests_url.rsplit("/", 1)[0]
        self.tickets = tickets
        self.api_key = api_key
        self._client = client
        self._owns_client = client is None
        self.timeout_seconds = timeout_seconds

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_seconds)
        return self._client

    def _params(self, **params: str) -> dict[str, str]:
        return {**params, **({"api_key": self.api_key} if self.api_key else {})}

    async def poll_once(self) -> int:
        """One pass over the open forwarded tickets; how many changed. A back office that is down raises."""
        tickets = await asyncio.to_thread(self.tickets.forwarded_open)
        by_id: dict[str, Ticket] = {}
        for forwarded in tickets:
            external_id = forwarded.external_id or await self._resolve_token(forwarded)
            if external_id:
                by_id[external_id] = forwarded
        changed = 0
        ids = list(by_id)
        for start in range(0, len(ids), POLL_BATCH):
            batch = ids[start : start + POLL_BATCH]
            response = await self._get(self.requests_url, self._params(service_request_id=",".join(batch)))
            for request in response if isinstance(response, list) else []:
                known = by_id.get(str(request.get("service_request_id"))) if isinstance(request, dict) else None
                if known is not None and await self._apply(known, request):
                    changed += 1
        return changed

    async def _get(self, url: str, params: dict[str, str]) -> Any:
        try:
            response = await self._http().get(url, params=params)
        except httpx.HTTPError as error:
            raise NotificationError(f"Open311 back office unreachable: {error}") from error
        if not response.is_success:
            raise NotificationError(f"Open311 back office answered {response.status_code}: {response.text[:200]}")
        try:
            return response.json()
        except ValueError as error:
            raise NotificationError("Open311 back office answered something else than JSON") from error

    async def _resolve_token(self, ticket: Ticket) -> str | None:
        """The id behind a token (GET tokens/{token}.json), kept on the ticket once the back office has it."""
        if not ticket.external_token:
            return None
        found = _first(await self._get(f"{self.base_url}/tokens/{ticket.external_token}.json", self._params()))
        external_id = found.get("service_request_id")
        if not external_id:
            return None
        await asyncio.to_thread(self.tickets.record_forward, ticket.ref, external_id=str(external_id))
        return str(external_id)

    async def _apply(self, ticket: Ticket, request: dict[str, Any]) -> bool:
        status = str(request.get("status") or "").lower()
        notes = str(request.get("status_notes") or "").strip()[:1000] or None
        if status not in ("open", "closed") or (status, notes) == (ticket.external_status, ticket.external_notes):
            return False
        if status == "closed":
            state: str | None = "traite"
        elif notes and notes != ticket.external_notes:
            state = "pris_en_charge" if ticket.state == "nouveau" else ticket.state
        else:
            state = None
        # The change first, then what was seen: a failure in between repeats the change at the next poll, never
        # loses it.
        if state is not None:
            await asyncio.to_thread(self.tickets.set_status, ticket.ref, state, notes, BACK_OFFICE_ACTOR)
        await asyncio.to_thread(self.tickets.record_external_status, ticket.ref, status, notes)
        return state is not None

    async def run_forever(self, stop: asyncio.Event, *, interval_seconds: float) -> None:
        """Poll every `interval_seconds` until `stop` is set; a back office that is down is tried at the next pass."""
        while not stop.is_set():
            try:
                changed = await self.poll_once()
                if changed:
                    logger.info("Back office: %s ticket(s) changed", changed)
            except Exception as error:
                logger.warning("Back office status poll failed: %s", error)
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
            except asyncio.TimeoutError:
                pass

    async def aclose(self) -> None:
        """Close the HTTP client if this poller created it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None
