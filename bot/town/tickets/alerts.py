"""Urgent tickets (a danger: gas, fallen cable, flooding, collapse, fire) alert the on-call address by e-mail.

The alert is an outbox job written in the ticket's own transaction, so it is retried until the mail server takes it
and never lost. It carries what the person on call needs to act, and nothing that identifies the citizen: the
reference, the category, the location without its house number (or the position rounded as Open311 publishes it),
and a link to the ticket page in the console, behind its login.
"""

from __future__ import annotations

from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

from bot.town.privacy.addresses import mask_for_review
from bot.town.tickets.categories import PROBLEM_TYPES
from bot.town.tickets.intake import house_number
from bot.town.tickets.model import OutboxJob, Ticket
from bot.town.tickets.open311 import PUBLIC_COORDINATE_DECIMALS

if TYPE_CHECKING:  # bot.town.notify imports this package: keep the import one-way at runtime
    from bot.town.mail import Mailer

TEMPLATE = Template((Path(__file__).parent / "urgent_alert.txt").read_text(encoding="utf-8"))


def masked_location(ticket: Ticket) -> str:
    """Where the danger is, without the citizen's house number: the street, or the rounded position."""
    if ticket.address:
        number = house_number(ticket.address)
        street = ticket.address[ticket.address.find(number) + len(number) :] if number else ticket.address
        street = street.strip(" ,")
        if street:
            return mask_for_review(street)
    if ticket.lat is not None and ticket.long is not None:
        digits = PUBLIC_COORDINATE_DECIMALS
        return f"position {ticket.lat:.{digits}f}, {ticket.long:.{digits}f} (arrondie)"
    return "non précisée"


def alert_payload(ticket: Ticket, console_url: str) -> dict[str, Any]:
    """What the alert job keeps: enough to write the e-mail later, nothing personal."""
    return {
        "ticket_ref": ticket.ref,
        "category": PROBLEM_TYPES.get(ticket.service_code, ticket.service_code),
        "location": masked_location(ticket),
        "ticket_url": f"{console_url.rstrip('/')}/tickets/{ticket.ref}",
    }


def alert_message(payload: dict[str, Any]) -> tuple[str, str]:
    """The e-mail's subject and plain-text body (French, for the person on call)."""
    subject = f"[Guichet] Signalement urgent {payload['ticket_ref']} — {payload['category']}"
    return subject, TEMPLATE.substitute({k: str(v) for k, v in payload.items()})


class UrgentAlertSender:
    """Sends the outbox's alert jobs through a `Mailer` to the job's recipient (ALERT_EMAIL)."""

    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer

    async def send(self, job: OutboxJob) -> str | None:
        """Write and send one alert; a refusal of the mail server raises (the outbox retries)."""
        from bot.town.notify import NotificationError

        if not job.recipient:
            raise NotificationError("urgent alert without a recipient")
        subject, body = alert_message(job.payload)
        await self.mailer.send(job.recipient, subject, body)
        return None
