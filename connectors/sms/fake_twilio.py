"""A fake of the Twilio REST API at the transport: it records requests and answers as scripted.

Tests use it with the real client library: twilio's `Client` built on this `http_client`.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from twilio.http import HttpClient
from twilio.http.response import Response as TwilioResponse


@dataclass
class TwilioCall:
    """One recorded Twilio REST call."""

    method: str
    uri: str
    data: dict[str, Any]
    auth: tuple[str, str] | None


class RecordingTwilioHttpClient(HttpClient):
    """A Twilio HTTP client that records requests and answers 201 with a message resource unless scripted."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("twilio.fake"), is_async=False)
        self.calls: list[TwilioCall] = []
        self.scripted: deque[tuple[int, dict[str, Any]]] = deque()

    def script(self, status: int, body: dict[str, Any]) -> None:
        """Answer the next request with this HTTP status and JSON body."""
        self.scripted.append((status, body))

    def bodies(self) -> list[str]:
        """The bodies of the messages sent, in order."""
        return [str(call.data.get("Body")) for call in self.calls if call.uri.endswith("/Messages.json")]

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        """Record the request; answer as scripted, else 201 with a queued message."""
        self.calls.append(TwilioCall(method, uri, dict(data or {}), auth))
        if self.scripted:
            status, body = self.scripted.popleft()
            return TwilioResponse(status, json.dumps(body))
        sid = f"SM{len(self.calls):032d}"
        body = {"sid": sid, "status": "queued", "to": (data or {}).get("To"), "body": (data or {}).get("Body")}
        return TwilioResponse(201, json.dumps(body))
