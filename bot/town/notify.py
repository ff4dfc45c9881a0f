"""Pushes messages out of Guichet: to a citizen through the rasa server, or wherever an outbox job says.

The rasa server renders the French sentence (domain.yml, per channel) when it receives the
`EXTERNAL_ticket_update` intent; Guichet only says which ticket, which state and which note.

What counts as delivered (`SendResult.delivered`), per channel:
- Telegram, SMS: the rasa server sends through the channel's own output inside the request, and those outputs raise
  when the Bot API or Twilio's Messages API refuses (so the server answers 500): a 2xx whose body carries no
  collected `messages` means the platform's API accepted the message. Twilio's later delivery receipts (status
  callbacks) are not read by the SMS connector, so acceptance is the most the outbox knows.
- Web chat: never at this point. Its updates are rendered without an output channel (the server then returns them
  as `messages`), held in the database, and emitted by the web chat channel when the citizen's session is connected
  or comes back (bot/town/tickets/held.py); only then is the job delivered.
- Any other channel whose server answer carries collected `messages` (REST): handed over, nobody to receive them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote

import httpx

from bot.town.tickets.model import OutboxJob
from bot.town.tickets.outbox import SendResult

TICKET_UPDATE_INTENT = "EXTERNAL_ticket_update"
HELD_CHANNELS = frozenset({"webchat"})  # channels whose updates wait for the citizen's session (held.py)
# Rasa 3.6 reads its API token from the query string only, and httpx logs every request URL at INFO.
_QUERY_TOKEN = re.compile(r"([?&]token=)[^&#\s\"']*", re.IGNORECASE)
HIDDEN = "[hidden]"


class QueryTokenFilter(logging.Filter):
    """Replaces the value of every `token=` query parameter in a record's message by HIDDEN; drops no record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Hide the tokens in place; always let the record through."""
        message = record.getMessage()
        hidden = _QUERY_TOKEN.sub(rf"\g<1>{HIDDEN}", message)
        if hidden != message:
            record.msg, record.args = hidden, None
        return True


def hide_tokens_in_logs(logger_names: tuple[str, ...] = ("httpx", "httpcore")) -> None:
    """Keep the rasa token out of this process's logs: the HTTP clients that call the rasa server log URLs."""
    for name in logger_names:
        target = logging.getLogger(name)
        if not any(isinstance(f, QueryTokenFilter) for f in target.filters):
            target.addFilter(QueryTokenFilter())


class NotificationError(RuntimeError):
    """The far side did not accept the message; the outbox will retry it."""


class Notifier(Protocol):
    """Sends one outbox job; raises on failure; returns a `SendResult`, or a short response to keep (then `sent`)."""

    async def send(self, job: OutboxJob) -> SendResult | str | None:
        """Deliver `job` or raise."""
        ...


class RasaNotifier:
    """Triggers an intent (`EXTERNAL_ticket_update` by default) in the citizen's conversation, so the bot tells them
    on their channel."""

    def __init__(
        self,
        rasa_url: str,
        token: str | None,
        *,
        client: httpx.AsyncClient | None = None,
        timeout_seconds: float = 10.0,
        intent: str = TICKET_UPDATE_INTENT,
    ) -> None:
        self.intent = intent  # the job's payload becomes the intent's entities
        self.rasa_url = rasa_url.rstrip("/")
        self.token = token
        self._client = client
        self._owns_client = client is None
        self.timeout_seconds = timeout_seconds

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_seconds)
        return self._client

    async def send(self, job: OutboxJob) -> SendResult:
        """POST /conversations/{sender}/trigger_intent; anything but a 2xx raises `NotificationError`.

        See the module docstring for what a 2xx means per channel.
        """
        if not job.recipient or not job.channel:
            raise NotificationError("notification without a recipient or channel")
        url = f"{self.rasa_url}/conversations/{quote(job.recipient, safe=':')}/trigger_intent"
        held = job.channel in HELD_CHANNELS
        # Without output_channel the server collects the rendered messages and returns them instead of sending.
        params = {} if held else {"output_channel": job.channel}
        if self.token:
            params["token"] = self.token
        if self.intent == TICKET_UPDATE_INTENT:
            entities = {
                "ticket_ref": job.payload.get("ticket_ref"),
                "ticket_state": job.payload.get("ticket_state"),
                "status_note": job.payload.get("status_note") or "",
            }
        else:
            entities = dict(job.payload)
        body = {"name": self.intent, "entities": entities}
        try:
            response = await self._http().post(url, params=params, json=body)
        except httpx.HTTPError as error:
            raise NotificationError(f"rasa server unreachable: {error}") from error
        if not response.is_success:
            raise NotificationError(f"rasa server answered {response.status_code}: {response.text[:200]}")
        try:
            collected = response.json().get("messages")
        except ValueError as error:
            raise NotificationError(f"rasa server answered {response.status_code} without JSON") from error
        if held:
            messages = [_without_recipient(m) for m in collected or [] if isinstance(m, dict)]
            if not messages:
                raise NotificationError("rasa server rendered nothing for this update")
            return SendResult(delivered=False, held=messages)
        return SendResult(delivered=collected is None)

    async def aclose(self) -> None:
        """Close the HTTP client if this notifier created it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None


def _without_recipient(message: dict[str, object]) -> dict[str, object]:
    """A collected message without its recipient id (the channel addresses it when it is emitted)."""
    return {key: value for key, value in message.items() if key != "recipient_id"}


class KindRouter:
    """Sends each job through the notifier registered for its kind."""

    def __init__(self, notifiers: dict[str, Notifier]) -> None:
        self.notifiers = dict(notifiers)

    async def send(self, job: OutboxJob) -> SendResult | str | None:
        """Dispatch on `job.kind`; an unknown kind is a failure (kept, retried, then dead)."""
        notifier = self.notifiers.get(job.kind)
        if notifier is None:
            raise NotificationError(f"no notifier for outbox jobs of kind {job.kind!r}")
        return await notifier.send(job)


class ChannelRouter:
    """Sends each job through the notifier registered for its channel (the fallbacks: e-mail, SMS)."""

    def __init__(self, notifiers: dict[str, Notifier]) -> None:
        self.notifiers = dict(notifiers)

    async def send(self, job: OutboxJob) -> SendResult | str | None:
        """Dispatch on `job.channel`; an unknown channel is a failure (kept, retried, then dead)."""
        notifier = self.notifiers.get(job.channel or "")
        if notifier is None:
            raise NotificationError(f"no notifier for channel {job.channel!r}")
        return await notifier.send(job)


@dataclass
class FakeNotifier:
    """Records every job it is asked to send; fails the first `fail_times` calls (for retry tests)."""

    fail_times: int = 0
    calls: list[OutboxJob] = field(default_factory=list)
    sent: list[OutboxJob] = field(default_factory=list)

    async def send(self, job: OutboxJob) -> str | None:
        """Record the job, then fail or succeed."""
        self.calls.append(job)
        if self.fail_times > 0:
            self.fail_times -= 1
            raise NotificationError("fake failure")
        self.sent.append(job)
        return None
