"""The three promises of issue 22 through the console served on 127.0.0.1: a gas report is urgent, first in /tickets,
counted in every page's menu and e-mailed to the on-call address (an aiosmtpd server); a Telegram photo reaches the
ticket page (python-telegram-bot against a recording transport serving the file); a forwarded ticket reaches an
Open311 back office with its key, and the back office's status change reaches the citizen."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from email import message_from_bytes, policy
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from bot.console.schema import audit_log
from bot.settings import Settings
from bot.town.mail import SmtpMailer
from bot.town.media import media_name, media_signer
from bot.town.notify import KindRouter
from bot.town.tickets import OutboxStore, OutboxWorker, TicketDraft, TicketStore
from bot.town.tickets.alerts import UrgentAlertSender
from bot.town.tickets.forward import Open311Forwarder, Open311StatusPoller
from bot.town.tickets.outbox import ALERT_KIND, FORWARD_KIND, NOTIFY_KIND, PHOTO_KIND
from bot.town.tickets.photos import PhotoFetcher, TelegramFiles
from connectors.telegram.fake_bot_api import RecordingBotRequest
from tests.conftest import free_port
from tests.photos import jpeg_with_gps
from tests.unit.console.test_console_tickets import Running, agent_client, post_form
from tests.unit.console.test_console_tickets import running as console_running  # noqa: F401 - the `running` fixture
from tests.unit.console.test_console_tickets import test_mode as console_test_mode  # noqa: F401 - autouse fixture
from tests.unit.town.tickets.test_back_office import KEY, BackOffice

ON_CALL = "astreinte@pau.example"
CONSOLE = "https://console.pau.example"


@pytest.fixture
def running(console_running: Running) -> Running:  # noqa: F811 - the imported fixture, by its name
    """The console of the ticket pages' tests, served on 127.0.0.1 with its staff accounts."""
    return console_running


class Inbox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def urgent_store(running: Running, **options) -> TicketStore:
    clock = running.tickets.clock
    return TicketStore(running.engine, clock=clock, media=running.tickets.media, alert_email=ON_CALL,
                       console_url=CONSOLE, **options)  # fmt: skip


async def test_a_gas_report_is_urgent_first_counted_and_emailed_to_the_on_call_address(
    running: Running, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    store = urgent_store(running)
    gas = store.create_ticket(TicketDraft("voirie", "ça sent le gaz très fort", "5 Rue Gassion",
                                          channel="telegram", sender_id="telegram:777001"))  # fmt: skip
    older_first = [store.create_ticket(TicketDraft("graffiti", f"tag {n}", "Rue Carnot")).ref for n in range(3)]

    mailer = SmtpMailer.from_url(f"smtp://127.0.0.1:{port}", sender="guichet@pau.example")
    worker = OutboxWorker(OutboxStore(running.engine), KindRouter({ALERT_KIND: UrgentAlertSender(mailer)}))
    assert (await worker.run_once()).sent == 1

    [(sender, recipients, raw)] = inbox.messages
    mail = message_from_bytes(raw, policy=policy.default)
    body = mail.get_content()
    assert sender == "guichet@pau.example" and recipients == [ON_CALL]
    assert gas.ref in str(mail["Subject"]) and "Signalement urgent" in str(mail["Subject"])
    assert f"{CONSOLE}/tickets/{gas.ref}" in body and "Rue Gassion" in body and "5 Rue" not in body

    assert gas.priority == "urgent"
    async with agent_client(running) as client:
        listing = await client.get("/tickets")
        pages = [listing, await client.get("/conversations"), await client.get(f"/tickets/{gas.ref}")]
        shown = re.findall(r'<a href="/tickets/(PAU-\d{4}-\d{6})">', listing.text)
        assert shown[0] == gas.ref and set(older_first) <= set(shown)  # first, though the oldest
        for page in pages:
            badge = re.search(r'<span class="badge-urgent" id="urgent-badge">(\d+)<', page.text)
            assert badge is not None and badge.group(1) == "1", page.url
        assert "URGENT" in pages[2].text and "Alerte à l'astreinte : envoyée" in pages[2].text

        running.tickets.set_status(gas.ref, "traite", "GRDF est intervenu.", "agent@pau.example")
        after = await client.get("/tickets")
    assert 'id="urgent-badge"' not in after.text  # closed: no longer waiting for anyone


async def test_a_telegram_photo_reaches_the_ticket_page_for_staff_only(running: Running) -> None:
    telegram = RecordingBotRequest()
    telegram.serve_file("AgACAgQAAxkB", jpeg_with_gps())
    ref = running.tickets.create_ticket(
        TicketDraft(
            "voirie",
            "trou",
            "Rue Carnot",
            media_url="telegram-file:AgACAgQAAxkB",
            channel="telegram",
            sender_id="telegram:777001",
        )  # fmt: skip
    ).ref
    async with agent_client(running) as client:
        waiting = await client.get(f"/tickets/{ref}")
    assert 'id="photo-pending"' in waiting.text and "telegram-file" not in waiting.text

    fetcher = PhotoFetcher(running.tickets, running.tickets.media, TelegramFiles("123:ABC", request=telegram))
    run = await OutboxWorker(OutboxStore(running.engine), KindRouter({PHOTO_KIND: fetcher})).run_once()
    assert run.sent == 1 and telegram.downloads == ["photos/AgACAgQAAxkB.jpg"]

    name = media_name(running.tickets.get_ticket(ref).media_url)  # type: ignore[union-attr]
    assert name is not None
    async with agent_client(running) as client:
        page = await client.get(f"/tickets/{ref}")
        photo = await client.get(f"/media/{name}")
    async with httpx.AsyncClient(base_url=running.url) as stranger:
        refused = await stranger.get(f"/media/{name}")
    assert f'<img src="/media/{name}"' in page.text
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert b"Jeanne Martin" not in photo.content  # the camera owner of the EXIF never reaches staff
    assert refused.status_code == 401


async def test_a_forwarded_ticket_reaches_the_back_office_and_its_closing_reaches_the_citizen(
    running: Running,
) -> None:
    store = urgent_store(running, forward_new_tickets=True)
    photo = store.media.save(jpeg_with_gps())  # type: ignore[union-attr]
    draft = TicketDraft("eclairage_public", "lampadaire éteint", "Place Royale", media_url=f"media:{photo}",
                        channel="sms", sender_id="sms:p-9")  # fmt: skip
    ticket = store.create_ticket(draft)
    back_office = BackOffice()
    back_office.down = True
    # The console's own signer (its settings' secret under var/): the URL must open the console's media route.
    signer = media_signer(Settings(var_dir=store.media.directory.parent))  # type: ignore[union-attr]
    outbox = OutboxStore(running.engine)
    async with httpx.AsyncClient(transport=httpx.MockTransport(back_office.handle)) as bo:
        forwarder = Open311Forwarder("http://bo.example/open311/v2", api_key=KEY, client=bo, tickets=store,
                                     photo_url=lambda name: signer.url(f"{running.url}/media", name))  # fmt: skip
        worker = OutboxWorker(outbox, KindRouter({FORWARD_KIND: forwarder}), clock=store.clock)
        assert (await worker.run_once()).failed == 1

        async with agent_client(running) as client:
            failed = await client.get(f"/tickets/{ticket.ref}")
            assert "Transmission échouée" in failed.text and "nouvel essai à" in failed.text
            back_office.down = False
            retried = await post_form(client, f"/tickets/{ticket.ref}", f"/tickets/{ticket.ref}/transmission")
            assert retried.status_code == 303
        assert (await worker.run_once()).sent == 1

        back_office.requests["BO-1"] = {"status": "closed", "status_notes": "Ampoule changée."}
        assert await Open311StatusPoller("http://bo.example/open311/v2", store, api_key=KEY, client=bo).poll_once() == 1

    accepted = back_office.forms[-1]
    assert accepted["api_key"] == [KEY]
    photo_url = accepted["media_url"][0]
    async with httpx.AsyncClient() as anyone:  # what the back office does with the URL it was given
        fetched = await anyone.get(photo_url)
    assert fetched.status_code == 200 and signer.verify(photo, parse_qs(urlsplit(photo_url).query)) is True
    [notification] = outbox.jobs(kind=NOTIFY_KIND)
    assert (notification.recipient, notification.payload["ticket_state"]) == ("sms:p-9", "traite")
    async with agent_client(running) as client:
        page = await client.get(f"/tickets/{ticket.ref}")
    assert "BO-1" in page.text and "Ampoule changée." in page.text
    with running.engine.connect() as conn:
        actions = conn.execute(select(audit_log.c.action).where(audit_log.c.target == ticket.ref)).scalars().all()
    assert "ticket_forward_retry" in actions


async def test_only_signed_in_staff_with_the_form_token_may_retry_a_transmission(running: Running) -> None:
    ticket = urgent_store(running, forward_new_tickets=True).create_ticket(TicketDraft("voirie", "trou", "Rue Carnot"))
    async with httpx.AsyncClient(base_url=running.url, follow_redirects=False) as stranger:
        refused = await stranger.post(f"/tickets/{ticket.ref}/transmission")
    async with agent_client(running) as client:
        forged = await client.post(f"/tickets/{ticket.ref}/transmission", data={"csrf_token": "forged"})
        nothing_to_retry = await post_form(client, f"/tickets/{ticket.ref}", f"/tickets/{ticket.ref}/transmission")
    assert refused.status_code == 302 and refused.headers["location"].startswith("/login")
    assert forged.status_code == 403
    assert nothing_to_retry.status_code == 409  # the job is pending: nothing to retry
    await asyncio.sleep(0)
