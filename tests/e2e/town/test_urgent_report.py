"""A citizen reports a gas smell through the REST channel with the trained model: the emergency numbers first, then an
urgent ticket, first in the console's list with the badge, and the console's outbox e-mails the on-call address
(an aiosmtpd server of the test)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy

import httpx
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from bot.console import accounts
from bot.town.tickets import TicketStore
from tests.conftest import free_port
from tests.e2e.guichet_stack import Stack, start_stack
from tests.unit.console.test_console_pages import csrf_of

pytestmark = pytest.mark.model

ON_CALL = "astreinte@pau.example"
AGENT, PASSWORD = "agent.urgent@pau.example", "correct horse battery"


class Inbox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture(scope="module")
def inbox() -> Iterator[tuple[int, Inbox]]:
    handler, port = Inbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, handler
    controller.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, inbox: tuple[int, Inbox]) -> Iterator[Stack]:
    port, _ = inbox
    running = start_stack(tmp_path_factory.mktemp("urgent"), SMTP_URL=f"smtp://127.0.0.1:{port}", ALERT_EMAIL=ON_CALL)
    yield running
    running.stop_all()


def texts(replies: list[dict]) -> str:
    return " ".join(r.get("text", "") for r in replies)


def test_a_gas_smell_becomes_an_urgent_ticket_that_alerts_the_on_call_address(
    stack: Stack, inbox: tuple[int, Inbox]
) -> None:
    _, handler = inbox
    sender = f"e2e-gas-{uuid.uuid4().hex[:6]}"
    first = texts(stack.say(sender, "ca sent le gaz dans la rue").json())
    assert "112" in first and "18" in first  # the emergency numbers come first
    for answer in ("rue Gassion", "forte odeur de gaz devant l'immeuble", "non", "non"):
        stack.say(sender, answer)
    created = texts(stack.say(sender, "oui").json())
    ref = re.search(r"PAU-\d{4}-\d{6}", created)
    assert ref is not None, created

    engine = stack.engine()
    ticket = TicketStore(engine).get_ticket(ref.group())
    assert ticket is not None and ticket.priority == "urgent"

    deadline = time.monotonic() + 60
    while not handler.messages and time.monotonic() < deadline:
        time.sleep(0.5)
    [(recipients, raw)] = handler.messages
    mail = message_from_bytes(raw, policy=policy.default)
    assert recipients == [ON_CALL] and ref.group() in str(mail["Subject"])
    assert f"/tickets/{ref.group()}" in mail.get_content()

    accounts.create_staff_user(engine, AGENT, "agent", PASSWORD)
    console = f"http://127.0.0.1:{stack.settings.console_port}"
    with httpx.Client(base_url=console, follow_redirects=False, timeout=30) as client:
        session = log_in_sync(client)
        assert session.status_code == 303
        listing = client.get("/tickets", cookies=dict(session.cookies)).text
    assert re.findall(r'<a href="/tickets/(PAU-\d{4}-\d{6})">', listing)[0] == ref.group()
    assert re.search(r'id="urgent-badge">1<', listing)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT priority FROM tickets")).scalars().all() == ["urgent"]
    engine.dispose()


def log_in_sync(client: httpx.Client) -> httpx.Response:
    """The console's login form, filled as the console tests fill it; its cookies are given back by hand, since the
    stack's PUBLIC_URL is https (Secure cookies) and the test speaks http to 127.0.0.1."""
    page = client.get("/login")
    form = {"email": AGENT, "password": PASSWORD, "csrf_token": csrf_of(page.text)}
    return client.post("/login", data=form, cookies=dict(page.cookies))
