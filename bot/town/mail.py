"""E-mail from Guichet — alerts to staff, ticket updates to citizens — through the SMTP server of SMTP_URL (aiosmtplib).

SMTP_URL reads `smtp://[user:password@]host[:port]` (port 587 by default, STARTTLS when the server offers it), or
`smtps://...` (TLS from the first byte, port 465 by default). One small interface, `Mailer`, with a fake for tests:
callers never branch on which one they hold. A message counts as handed over when the server accepted it (its 250
reply): what happens after that relay is out of the town's sight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from bot.clock import utc_now
from bot.town.notify import NotificationError

DEFAULT_SENDER = "guichet@localhost"


class Mailer(Protocol):
    """Sends one plain-text e-mail; raises `NotificationError` if the server does not take it."""

    async def send(self, to: str, subject: str, body: str) -> str:
        """Deliver the message to the SMTP server and return its reply, or raise."""
        ...


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to hand e-mail over, read from SMTP_URL."""

    host: str
    port: int
    use_tls: bool
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """Parse `smtp://` or `smtps://` URLs; ValueError for anything else."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:password@host:587 or smtps://user:password@host:465")
        use_tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if use_tls else 587),
            use_tls=use_tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class SmtpMailer:
    """A `Mailer` on an SMTP server (one connection per message: alerts and fallbacks are rare)."""

    def __init__(self, server: SmtpServer, *, sender: str = DEFAULT_SENDER, timeout_seconds: float = 15.0) -> None:
        self.server = server
        self.sender = sender
        self.timeout_seconds = timeout_seconds

    @classmethod
    def from_url(cls, url: str, *, sender: str = DEFAULT_SENDER) -> SmtpMailer:
        """The mailer of SMTP_URL."""
        return cls(SmtpServer.from_url(url), sender=sender)

    async def send(self, to: str, subject: str, body: str) -> str:
        """Hand one UTF-8 plain-text message to the server; its reply."""
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message["Date"] = format_datetime(utc_now())
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(body)
        try:
            _, reply = await aiosmtplib.send(
                message,
                hostname=self.server.host,
                port=self.server.port,
                username=self.server.username,
                password=self.server.password,
                use_tls=self.server.use_tls,
                start_tls=None if not self.server.use_tls else False,  # None: STARTTLS if the server offers it
                timeout=self.timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            raise NotificationError(f"SMTP server refused or unreachable: {error}") from error
        return str(reply)


@dataclass
class FakeMailer:
    """Records the messages it is given; fails the first `fail_times` (for retry tests)."""

    fail_times: int = 0
    sent: list[tuple[str, str, str]] = field(default_factory=list)

    async def send(self, to: str, subject: str, body: str) -> str:
        """Record (to, subject, body), or fail."""
        if self.fail_times > 0:
            self.fail_times -= 1
            raise NotificationError("fake SMTP failure")
        self.sent.append((to, subject, body))
        return "250 OK (fake)"
