"""Sending SMS through Twilio's REST API: one rendered SMS per answer (a long one in parts, the next on SUITE),
opt-outs honoured, failures retried."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import requests
from rasa.core.channels.channel import OutputChannel
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import HttpClient
from twilio.rest import Client

from connectors.shared.continuations import ContinuationStore, MemoryContinuationStore
from connectors.shared.identities import IdentityStore
from connectors.shared.offers import MAX_REMEMBERED_PAYLOADS, Button, OfferStore, buttons_from_rasa
from connectors.shared.optouts import OptOutStore
from connectors.shared.retries import Sleep, backoff_delay, with_retries
from connectors.sms.rendering import MAX_MENU_BUTTONS, SmsRenderer

logger = logging.getLogger(__name__)


class UnknownSmsRecipient(LookupError):
    """No phone number is known for a pseudonymous SMS sender id."""


class SmsSender(Protocol):
    """Sends one SMS body to one phone number."""

    async def send(self, to: str, body: str) -> str:
        """Send and return the provider's message id."""
        ...


class TwilioSender:
    """SMS through Twilio's Messages API, the blocking HTTP call kept off the event loop."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        http_client: HttpClient | None = None,
    ) -> None:
        if not from_number and not messaging_service_sid:
            raise ValueError("TWILIO_FROM_NUMBER or a messaging_service_sid is needed to send SMS")
        self._client = Client(account_sid, auth_token, http_client=http_client)
        self._from_number = from_number
        self._messaging_service_sid = messaging_service_sid

    def _send_blocking(self, to: str, body: str) -> str:
        options: dict[str, Any] = {"to": to, "body": body}
        if self._messaging_service_sid:
            options["messaging_service_sid"] = self._messaging_service_sid
        else:
            options["from_"] = self._from_number
        return str(self._client.messages.create(**options).sid)

    async def send(self, to: str, body: str) -> str:
        """Send and return Twilio's message SID."""
        return await asyncio.to_thread(self._send_blocking, to, body)


def twilio_retry_delay(error: Exception, attempt: int) -> float | None:
    """Seconds to wait before retrying a send, or None when retrying cannot help (4xx other than 429)."""
    if isinstance(error, TwilioRestException):
        return backoff_delay(attempt) if error.status == 429 or error.status >= 500 else None
    if isinstance(error, (TwilioException, requests.RequestException, OSError)):
        return backoff_delay(attempt)
    return None


class SmsOutput(OutputChannel):
    """Answers and notifications by SMS; `buffered` collects a whole turn into one SMS sent by `flush()`."""

    @classmethod
    def name(cls) -> str:
        """Matches the input channel, so `channel: sms` response variants apply."""
        return "sms"

    def __init__(
        self,
        sender: SmsSender,
        identities: IdentityStore,
        optouts: OptOutStore,
        offers: OfferStore,
        renderer: SmsRenderer,
        *,
        buffered: bool = False,
        attempts: int = 1,
        sleep: Sleep = asyncio.sleep,
        continuations: ContinuationStore | None = None,
    ) -> None:
        self._sender = sender
        self._identities = identities
        self._optouts = optouts
        self._offers = offers
        self.renderer = renderer
        self._buffered = buffered
        self._attempts = attempts
        self._sleep = sleep
        self._continuations = continuations or MemoryContinuationStore()
        self._pending: list[tuple[str, str, list[Button]]] = []

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Send (or collect) a text."""
        await self._emit(recipient_id, text, [])

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        """Send (or collect) a text whose buttons become a numbered menu (link buttons become their link)."""
        links = [f"{b.get('title') or ''} {b['url']}".strip() for b in buttons if b.get("url")]
        body = "\n".join([text, *links]) if links else text
        await self._emit(recipient_id, body, buttons_from_rasa([b for b in buttons if not b.get("url")]))

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        """Send an image as its link."""
        await self._emit(recipient_id, image, [])

    async def send_attachment(self, recipient_id: str, attachment: Any, **kwargs: Any) -> None:
        """Send an attachment as its link."""
        await self._emit(recipient_id, str(attachment), [])

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        """Send the `text` of a custom message; anything else is not for citizens."""
        if json_message.get("text"):
            await self._emit(recipient_id, str(json_message["text"]), [])
        else:
            logger.info("Custom message without text not sent by SMS: keys %s", sorted(json_message))

    async def _emit(self, recipient_id: str, text: str, buttons: list[Button]) -> None:
        if self._buffered:
            self._pending.append((recipient_id, text, buttons))
        else:
            await self.deliver(recipient_id, text, buttons)

    async def flush(self) -> None:
        """Send what a buffered turn collected: one SMS per recipient, the last menu offered at its end."""
        pending, self._pending = self._pending, []
        for recipient_id in dict.fromkeys(r for r, _, _ in pending):
            texts = [t.strip() for r, t, _ in pending if r == recipient_id and t.strip()]
            menus = [b for r, _, b in pending if r == recipient_id and b]
            await self.deliver(recipient_id, "\n".join(texts), menus[-1] if menus else [])

    async def deliver(
        self, recipient_id: str, text: str, buttons: list[Button], *, despite_opt_out: bool = False
    ) -> bool:
        """Render and send one SMS (the first part of a long answer, the rest kept for SUITE); False when the
        recipient opted out. Raises when sending fails."""
        number = await self._number_unless_opted_out(recipient_id, despite_opt_out)
        if number is None:
            return False
        menu = buttons[: min(MAX_MENU_BUTTONS, MAX_REMEMBERED_PAYLOADS)]
        parts = self.renderer.parts(text, menu)
        if not parts[0]:
            return False
        # Always recorded: the numbers of a reply refer to the menu of the last SMS, or to none.
        await self._offers.remember(recipient_id, menu if len(parts) == 1 else [])
        await self._send(recipient_id, number, parts[0])
        await self._continuations.keep(recipient_id, parts[1:], menu)
        return True

    async def deliver_next(self, recipient_id: str) -> bool:
        """Send the next part of the recipient's last long answer (SUITE); False when nothing waits or opted out."""
        number = await self._number_unless_opted_out(recipient_id, False)
        if number is None:
            return False
        part = await self._continuations.take(recipient_id)
        if part is None:
            return False
        await self._offers.remember(recipient_id, [] if part.more else part.menu)
        await self._send(recipient_id, number, part.text)
        return True

    async def forget_rest(self, recipient_id: str) -> None:
        """Drop what waits for SUITE (after STOP)."""
        await self._continuations.keep(recipient_id, [], [])

    async def _number_unless_opted_out(self, recipient_id: str, despite_opt_out: bool) -> str | None:
        number = await self._identities.number_for(recipient_id)
        if number is None:
            raise UnknownSmsRecipient(f"no phone number known for {recipient_id}")
        if not despite_opt_out and await self._optouts.is_opted_out(recipient_id):
            logger.info("SMS to %s not sent: the citizen opted out", recipient_id)
            return None
        return number

    async def _send(self, recipient_id: str, number: str, body: str) -> None:
        await with_retries(
            lambda: self._sender.send(number, body),
            attempts=self._attempts,
            delay_for=twilio_retry_delay,
            sleep=self._sleep,
            what=f"SMS to {recipient_id}",
        )
