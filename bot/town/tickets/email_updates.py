"""Ticket updates by e-mail: the fallback when the citizen's own channel could not deliver (tickets/fallback.py).

The French text is domain.yml's `utter_notify_*` responses (plain text: the reference, the new state in the
citizen's words, the staff note or the reason of a rejection, and how to ask not to be contacted any more), sent
through the town's mail server (bot.town.mail). A job counts as delivered when that server accepted the message.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.town.mail import Mailer
from bot.town.notify import NotificationError
from bot.town.texts import first_texts
from bot.town.tickets.model import OutboxJob
from bot.town.tickets.outbox import SendResult
from bot.town.wording import elide_before

if TYPE_CHECKING:
    from bot.town.tickets.store import TicketStore

RESPONSE_PREFIX = "utter_notify_"
EMAIL_CHANNEL = "email"
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


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
        return elide_before(template.format(**values), self.town_name)

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
    """Sends `email` outbox jobs through the town's mail server; refused or unreachable raises."""

    def __init__(self, mailer: Mailer, texts: NotificationTexts, *, tickets: TicketStore | None = None) -> None:
        """With `tickets`, a job is sent only while its ticket still has that address (not erased since)."""
        self.mailer = mailer
        self.texts = texts
        self.tickets = tickets

    async def send(self, job: OutboxJob) -> SendResult:
        """Hand the e-mail to the mail server: delivered once it accepted the recipient."""
        if job.channel != EMAIL_CHANNEL or not job.recipient or "@" not in job.recipient:
            raise NotificationError("an e-mail job needs an e-mail address as its recipient")
        if self.tickets is not None:
            ticket = await asyncio.to_thread(self.tickets.get_ticket, str(job.payload.get("ticket_ref") or ""))
            if ticket is None or ticket.contact != job.recipient:
                raise NotificationError("the ticket no longer has the address this e-mail was for")
        subject, body = self.texts.email(job.payload)
        reply = await self.mailer.send(job.recipient, subject, body)
        return SendResult(delivered=True, response=f"smtp: {reply}"[:200])
