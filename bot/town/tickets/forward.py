"""Forwarding of new tickets to the town's external Open311 back office (an outbox job of kind "forward")."""

from __future__ import annotations

import httpx

from bot.town.notify import NotificationError
from bot.town.tickets.model import OutboxJob


class Open311Forwarder:
    """POSTs a ticket, form-encoded, to `<forward_url>/requests.json`; returns the back office's request id."""

    def __init__(
        self,
        forward_url: str,
        *,
        api_key: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout_seconds: float = 15.0,
    ) -> None:
        base = forward_url.rstrip("/")
        self.url = base if base.endswith(".json") else f"{base}/requests.json"
        self.api_key = api_key
        self._client = client
        self._owns_client = client is None
        self.timeout_seconds = timeout_seconds

    async def send(self, job: OutboxJob) -> str | None:
        """Forward one ticket; a non-2xx answer raises `NotificationError`."""
        form = {k: str(v) for k, v in job.payload.items() if v is not None}
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
            answer = response.json()
            first = answer[0] if isinstance(answer, list) else answer
            external_id = first.get("service_request_id") or first.get("token")
        except (ValueError, AttributeError, IndexError):
            return response.text[:200] or None
        return str(external_id) if external_id is not None else None

    async def aclose(self) -> None:
        """Close the HTTP client if this forwarder created it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None
