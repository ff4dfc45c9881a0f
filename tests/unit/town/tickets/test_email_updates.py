"""Ticket updates by e-mail: French plain text from domain.yml, sent to a real SMTP server the test starts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from aiosmtpd.controller import Controller

from bot.settings import ROOT
from bot.town.mail import SmtpMailer, SmtpServer
from bot.town.notify import NotificationError
from bot.town.tickets import OutboxJob
from bot.town.tickets.email_updates import EmailNotifier, NotificationTexts
from tests.conftest import free_port
from tests.mailbox import Inbox, body_of

START = datetime(2026, 5, 4, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def mailer(port: int, sender: str) -> SmtpMailer:
    return SmtpMailer.from_url(f"smtp://127.0.0.1:{port}", sender=sender)


def texts() -> NotificationTexts:
    return NotificationTexts.from_domain(ROOT / "domain.yml", "Pau")


def job(state: str, note: str = "", recipient: str = "jeanne@exemple.fr", channel: str = "email") -> OutboxJob:
    payload = {"ticket_ref": "PAU-2026-000042", "ticket_state": state, "status_note": note}
    return OutboxJob(7, "ticket_update_fallback", "k", payload, channel, recipient, "sending", 1, START)


@pytest.mark.asyncio
async def test_the_update_arrives_by_email_in_french_with_the_reference_and_how_to_stop(smtp) -> None:
    inbox, port = smtp
    notifier = EmailNotifier(mailer(port, "mairie@pau.example"), texts())

    result = await notifier.send(job("pris_en_charge", "Une équipe passe jeudi."))

    assert result.delivered and result.response == "smtp: Message accepted for delivery"
    [(recipients, message)] = inbox.messages
    assert recipients == ["jeanne@exemple.fr"]
    assert message["Subject"] == "Ville de Pau : votre signalement PAU-2026-000042"
    assert message.get_content_type() == "text/plain"
    body = body_of(message)
    assert "PAU-2026-000042" in body and "Pris en charge" in body
    assert "Précision de la mairie : Une équipe passe jeudi." in body
    assert "Pour ne plus être contacté(e)" in body
    assert "{" not in body and "\n\n\n" not in body


@pytest.mark.asyncio
async def test_a_rejection_gives_its_reason(smtp) -> None:
    inbox, port = smtp
    notifier = EmailNotifier(mailer(port, "mairie@pau.example"), texts())
    await notifier.send(job("non_retenu", "Voie privée"))
    body = body_of(inbox.messages[0][1])
    assert "Non retenu" in body and "Motif : Voie privée" in body


@pytest.mark.parametrize(
    "state,label",
    [("nouveau", "Nouveau"), ("pris_en_charge", "Pris en charge"), ("planifie", "Planifié"), ("traite", "Traité"),
     ("non_retenu", "Non retenu")],
)  # fmt: skip
def test_every_state_has_its_words_for_the_citizen(state: str, label: str) -> None:
    subject, body = texts().email({"ticket_ref": "PAU-2026-000001", "ticket_state": state, "status_note": ""})
    assert f": {label}." in body and "PAU-2026-000001" in subject


@pytest.mark.asyncio
async def test_an_unreachable_smtp_server_is_a_failure_the_outbox_retries() -> None:
    notifier = EmailNotifier(SmtpMailer(SmtpServer("127.0.0.1", free_port(), False), timeout_seconds=5), texts())
    with pytest.raises(NotificationError, match="SMTP"):
        await notifier.send(job("traite"))


@pytest.mark.asyncio
async def test_a_job_that_is_not_an_email_is_refused() -> None:
    notifier = EmailNotifier(mailer(25, "m@pau.example"), texts())
    with pytest.raises(NotificationError):
        await notifier.send(job("traite", recipient="+33612345678", channel="sms"))


@pytest.mark.asyncio
async def test_an_email_for_a_ticket_whose_contact_was_erased_is_not_sent(smtp, tmp_path) -> None:
    from sqlalchemy import update

    from bot.db import create_engine_for
    from bot.town.tickets import TicketDraft, TicketStore, create_schema
    from bot.town.tickets.schema import tickets

    inbox, port = smtp
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    create_schema(engine)
    store = TicketStore(engine)
    ref = store.create_ticket(TicketDraft("voirie", "Trou", address="Rue Tran", contact="jeanne@exemple.fr")).ref
    notifier = EmailNotifier(mailer(port, "m@pau.example"), texts(), tickets=store)
    update_of_ref = OutboxJob(7, "ticket_update_fallback", "k", {"ticket_ref": ref, "ticket_state": "traite"},
                              "email", "jeanne@exemple.fr", "sending", 1, START)  # fmt: skip
    with engine.begin() as conn:
        conn.execute(update(tickets).values(contact=None))  # the citizen had their data erased meanwhile

    with pytest.raises(NotificationError, match="no longer has the address"):
        await notifier.send(update_of_ref)
    assert inbox.messages == []
