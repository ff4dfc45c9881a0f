"""Ticket updates by e-mail: the fallback when the citizen's own channel could not deliver (tickets/fallback.py).

The French text is domain.yml's `utter_notify_*` responses (plain text: the reference, the new state in the
citizen's words, the staff note or the reason of a rejection, and how to ask not to be contacted any more).
A job counts as delivered when the town's SMTP server accepted the message for the recipient (its 250 reply):
what happens after that relay is out of the town's sight.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import aiosmtplib

from bot.clock import utc_now
from bot.town.notify import NotificationError
from bot.town.texts import first_texts
from bot.town.tickets.model import OutboxJob
from bot.town.tickets.outbox import SendResult

if TYPE_CHECKING:
    from bot.town.tickets.store import TicketStore

RESPONSE_PREFIX = "utter_notify_"
EMAIL_CHANNEL = "email"
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


@dataclass(frozen=True)
class SmtpConfig:
    """Where e-mail goes: SMTP_URL read as smtp://[user:pass@]host[:587] (STARTTLS when the server offers it) or
    smtps://[user:pass@]host[:465] (TLS from the start)."""

    hostname: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        """Parse SMTP_URL; a ValueError names what is wrong."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:pass@host:587 or smtps://user:pass@host:465")
        implicit_tls = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname,
            port=parts.port or (465 if implicit_tls else 587),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit_tls,
        )


@dataclass(frozen=True)
class NotificationTexts:
    """The `utter_notify_*` responses of domain.yml, filled for one ticket update."""

    texts: Mapping[str, str]
    town_name: str

    @classmethod
    def from_domain(cls, domain_path: Path, town_name: str) -> NotificationTexts:
        """Read the responses once (at start-up)."""
        return cls(first_texts(domain_path, RESPONSE_PREFIX), town_name)

    def _text(self, name: str, **values: Any) -> str:
        template = self.texts.get(name)
        if template is None:
            raise NotificationError(f"domain.yml has no response {RESPONSE_PREFIX}{name}")
        return template.format(**values)

    def values(self, payload: Mapping[str, Any]) -> dict[str, str]:
        """The placeholders of an update: reference, state label, and the note or reason line (or nothing)."""
        state = str(payload.get("ticket_state") or "")
        note = str(payload.get("status_note") or "").strip()
        note_line = ""
        if note:
            note_line = self._text("reason" if state == "non_retenu" else "note", status_note=note)
        return {
            "town_name": self.town_name,
            "ticket_ref": str(payload.get("ticket_ref") or ""),
            "state_label": self._text(f"state_{state}"),
            "note_line": note_line,
            "status_note": note,
        }

    def email(self, payload: Mapping[str, Any]) -> tuple[str, str]:
        """(subject, plain-text body) of the e-mail for this update."""
        values = self.values(payload)
        body = _BLANK_LINES.sub("\n\n", self._text("email_body", **values)).strip()
        return self._text("email_subject", **values), body + "\n"


class EmailNotifier:
    """Sends `email` outbox jobs through the town's SMTP server (aiosmtplib); refused or unreachable raises."""

    def __init__(
        self,
        smtp: SmtpConfig,
        sender: str,
        texts: NotificationTexts,
        *,
        timeout_seconds: float = 30.0,
        tickets: TicketStore | None = None,
    ) -> None:
        """With `tickets`, a job is sent only while its ticket still has that address (not erased since)."""
        self.smtp = smtp
        self.sender = sender
        self.texts = texts
        self.timeout_seconds = timeout_seconds
        self.tickets = tickets

    def message(self, job: OutboxJob) -> EmailMessage:
        """The e-mail for one job (plain text, UTF-8)."""
        subject, body = self.texts.email(job.payload)
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = job.recipient or ""
        message["Subject"] = subject
        message["Date"] = format_datetime(utc_now())
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(body)
        return message

    async def send(self, job: OutboxJob) -> SendResult:
        """Hand the e-mail to the SMTP server: delivered once it accepted the recipient."""
        if job.channel != EMAIL_CHANNEL or not job.recipient or "@" not in job.recipient:
            raise NotificationError("an e-mail job needs an e-mail address as its recipient")
        if self.tickets is not None:
            ticket = await asyncio.to_thread(self.tickets.get_ticket, str(job.payload.get("ticket_ref") or ""))
            if ticket is None or ticket.contact != job.recipient:
                raise NotificationError("the ticket no longer has the address this e-mail was for")
        try:
            _, reply = await aiosmtplib.send(
                self.message(job),
                hostname=self.smtp.hostname,
                port=self.smtp.port,
                username=self.smtp.username,
                password=self.smtp.password,
                use_tls=self.smtp.use_tls,
                timeout=self.timeout_seconds,
            )
        except aiosmtplib.SMTPException as error:
            raise NotificationError(f"SMTP server refused or unreachable: {error}") from error
        return SendResult(delivered=True, response=f"smtp: {reply}"[:200])
