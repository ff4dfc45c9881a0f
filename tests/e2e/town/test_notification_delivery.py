"""Ticket updates that really reach the citizen, on the real stack (rasa server, action server, console and its outbox).

A web chat citizen reports a problem, leaves; staff change the status with `python -m bot ticket set-status`; the
outbox says `sent`, not `delivered`, until the citizen's browser comes back with its session and gets the update.
A citizen who never comes back gets it by e-mail after NOTIFY_FALLBACK_MINUTES, at the address they gave, only if
they said « oui » to being told there; the e-mails land in an SMTP server this module starts (aiosmtpd).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import socketio
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from bot.settings import ROOT
from tests.conftest import free_port
from tests.e2e.guichet_stack import Stack, start_stack
from tests.mailbox import Inbox, body_of

pytestmark = pytest.mark.model

FALLBACK_MINUTES = 0.15  # 9 s
PAGE_PORT = free_port()
PAGE_ORIGIN = f"http://127.0.0.1:{PAGE_PORT}"
REFERENCE = re.compile(r"\b[A-Z]{2,6}-\d{4}-\d{6}\b")
# The assistant's messages of one turn arrive one after the other; a silence this long ends the turn (a loaded
# machine can pause between an action's message and the next question).
QUIET_SECONDS = 5


@dataclass
class Running:
    stack: Stack
    inbox: Inbox


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    inbox = Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    stack = start_stack(
        tmp_path_factory.mktemp("delivery"),
        SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
        SMTP_FROM="mairie@pau.example",
        NOTIFY_FALLBACK_MINUTES=str(FALLBACK_MINUTES),
        ALLOWED_ORIGINS=f"{PAGE_ORIGIN},http://127.0.0.1:8000",
    )
    try:
        yield Running(stack, inbox)
    finally:
        stack.stop_all()
        controller.stop()


@dataclass
class WebCitizen:
    """A python-socketio client speaking to the stack's web chat like the widget does."""

    url: str
    client: socketio.AsyncClient = field(default_factory=lambda: socketio.AsyncClient(reconnection=False))
    heard: asyncio.Queue = field(default_factory=asyncio.Queue)
    session_id: str | None = None

    async def connect(self, session_id: str | None = None) -> None:
        self.client.on("bot_uttered", lambda data: self.heard.put_nowait(data))
        confirmed: asyncio.Queue = asyncio.Queue()
        self.client.on("session_confirm", lambda data: confirmed.put_nowait(data))
        await self.client.connect(
            self.url, headers={"Origin": "http://127.0.0.1:8000"}, transports=["polling"], socketio_path="/socket.io"
        )
        await self.client.emit("session_request", {"session_id": session_id})
        self.session_id = await asyncio.wait_for(confirmed.get(), timeout=30)

    async def say(self, text: str) -> list[dict[str, Any]]:
        """Send a message and collect the assistant's messages until it falls silent."""
        await self.client.emit("user_uttered", {"message": text, "session_id": self.session_id})
        replies = [await asyncio.wait_for(self.heard.get(), timeout=120)]
        while True:
            try:
                replies.append(await asyncio.wait_for(self.heard.get(), timeout=QUIET_SECONDS))
            except asyncio.TimeoutError:
                return replies

    async def leave(self) -> None:
        await self.client.eio.disconnect(abort=True)  # the tab is closed: no goodbye


def said(replies: list[dict[str, Any]]) -> str:
    return " ".join(str(r.get("text") or "") for r in replies)


def payloads(replies: list[dict[str, Any]]) -> list[str]:
    return [str(q.get("payload")) for r in replies for q in (r.get("quick_replies") or r.get("buttons") or [])]


async def report(citizen: WebCitizen, street: str, contact: str | None, consent: bool) -> str:
    """Report a pothole, answering whatever the form asks; the reference of the ticket."""
    replies = await citizen.say(f"je veux signaler un nid de poule {street}")
    for _ in range(16):
        text = said(replies)
        if (found := REFERENCE.search(text)) and "enregistré" in text:
            return found.group(0)
        if "Quel type de problème" in text:
            answer = '/inform{"problem_type": "voirie"}' if any("voirie" in p for p in payloads(replies)) else "voirie"
        elif "Où se trouve le problème" in text:
            answer = street
        elif "Vouliez-vous dire" in text:
            answer = payloads(replies)[0]
        elif "Décrivez le problème" in text:
            answer = "un gros trou dans la chaussée depuis une semaine"
        elif "Avez-vous une photo" in text:
            answer = "non"
        elif "joindre au sujet de ce signalement" in text:
            answer = contact or "non"
        elif "acceptez-vous que la mairie vous envoie" in text:
            answer = "/affirm" if consent else "/deny"
        elif "signalement similaire existe" in text:
            answer = "/deny"
        elif "Je l'envoie" in text:
            answer = "/affirm"
        else:
            raise AssertionError(f"unexpected turn of the report: {text!r}")
        replies = await citizen.say(answer)
    raise AssertionError("the report never ended")


def set_status(stack: Stack, ref: str, state: str, note: str) -> None:
    """Staff change the status from the command line, as documented."""
    done = subprocess.run(
        [sys.executable, "-m", "bot", "ticket", "set-status", ref, state, "--note", note],
        cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def outbox_of(stack: Stack, ref: str) -> list[dict[str, Any]]:
    """The ticket's notifications and their fallbacks, as the console reads them."""
    from bot.console.tickets_pages import notifications_of

    engine = stack.engine()
    try:
        return notifications_of(engine, ref)
    finally:
        engine.dispose()


def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


async def test_an_update_waits_for_the_citizen_who_left_and_is_delivered_when_they_come_back(
    running: Running,
) -> None:
    stack = running.stack
    citizen = WebCitizen(stack.rasa_url)
    await citizen.connect()
    ref = await report(citizen, "rue Serviez", None, False)
    session_id = citizen.session_id
    await citizen.leave()

    set_status(stack, ref, "pris_en_charge", "Une équipe passe jeudi.")
    wait_for(lambda: [j["status"] for j in outbox_of(stack, ref)] == ["sent"], 60, "the update was never handed over")
    await asyncio.sleep(3)  # several polls of the web chat: still nobody to give it to
    assert [(j["channel"], j["status"], j["delivered_at"]) for j in outbox_of(stack, ref)] == [
        ("webchat", "sent", None)
    ]

    back = WebCitizen(stack.rasa_url)
    await back.connect(session_id)
    update = await asyncio.wait_for(back.heard.get(), timeout=30)
    await back.leave()

    assert ref in update["text"] and "pris en charge" in update["text"] and "Une équipe passe jeudi." in update["text"]
    [job] = outbox_of(stack, ref)
    assert job["status"] == "delivered" and job["delivered_at"] is not None
    assert running.inbox.to("jeanne") == []  # no contact given: no fallback


async def test_a_citizen_who_never_comes_back_gets_the_update_by_email_with_consent(running: Running) -> None:
    stack, address = running.stack, f"jeanne.{uuid.uuid4().hex[:6]}@exemple.fr"
    citizen = WebCitizen(stack.rasa_url)
    await citizen.connect()
    ref = await report(citizen, "rue Carnot", address, True)
    await citizen.leave()

    set_status(stack, ref, "non_retenu", "Voie privée")
    wait_for(lambda: running.inbox.to(address), 120, "the fallback e-mail never arrived")

    [message] = running.inbox.to(address)
    body = body_of(message)
    assert message["From"] == "mairie@pau.example" and ref in message["Subject"]
    assert ref in body and "Non retenu" in body and "Motif : Voie privée" in body
    assert "Pour ne plus être contacté(e)" in body
    jobs = outbox_of(stack, ref)
    assert [(j["channel"], j["status"], bool(j.get("fallback"))) for j in jobs] == [
        ("webchat", "sent", False),
        ("email", "delivered", True),
    ]


async def test_without_consent_the_email_given_for_the_agent_is_never_used(running: Running) -> None:
    stack, address = running.stack, f"paul.{uuid.uuid4().hex[:6]}@exemple.fr"
    citizen = WebCitizen(stack.rasa_url)
    await citizen.connect()
    ref = await report(citizen, "rue Tran", address, False)
    await citizen.leave()
    engine = stack.engine()
    with engine.connect() as conn:
        contact = conn.execute(
            sa.text("SELECT contact FROM tickets WHERE service_request_id = :r"), {"r": ref}
        ).scalar()
    engine.dispose()
    assert contact == address  # kept for the agent

    set_status(stack, ref, "traite", "Trou rebouché.")
    wait_for(lambda: [j["status"] for j in outbox_of(stack, ref)] == ["sent"], 60, "the update was never handed over")
    await asyncio.sleep(FALLBACK_MINUTES * 60 + 8)  # past the delay, and a few passes of the outbox worker
    assert running.inbox.to(address) == []
    assert [j["channel"] for j in outbox_of(stack, ref)] == ["webchat"]


# --- the same with the widget in Chromium -----------------------------------------------------------------------


async def bot_texts(page: Any) -> list[str]:
    return [t.strip() for t in await page.locator(".gw-msg-bot").all_inner_texts()]


async def widget_says(page: Any, before: int) -> str:
    """The assistant's messages after the first `before` ones, once it fell silent."""
    deadline = time.monotonic() + 120
    while len(await bot_texts(page)) <= before:
        assert time.monotonic() < deadline, "the assistant did not answer in the widget"
        await asyncio.sleep(0.3)
    seen = -1
    while seen != len(await bot_texts(page)):
        seen = len(await bot_texts(page))
        await asyncio.sleep(2)
    return " ".join((await bot_texts(page))[before:])


async def report_in_widget(page: Any, street: str) -> str:
    """Report a pothole through the widget, declining photo and contact; the reference."""
    before = len(await bot_texts(page))
    await page.get_by_label("Votre message").fill(f"je veux signaler un nid de poule {street}")
    await page.keyboard.press("Enter")
    for _ in range(16):
        text = await widget_says(page, before)
        before = len(await bot_texts(page))
        if (found := REFERENCE.search(text)) and "enregistré" in text:
            return found.group(0)
        button = None
        if "Quel type de problème" in text:
            answer = "voirie"
        elif "Où se trouve le problème" in text:
            answer = street
        elif "Décrivez le problème" in text:
            answer = "un gros trou dans la chaussée depuis une semaine"
        elif "Avez-vous une photo" in text or "joindre au sujet de ce signalement" in text:
            answer = "non"
        elif "Vouliez-vous dire" in text:
            button = page.locator(".gw-choice:enabled").first
        elif "Je l'envoie" in text:
            button = page.get_by_role("button", name="Oui, envoyer").last
        elif "signalement similaire existe" in text:
            answer = "non"
        else:
            raise AssertionError(f"unexpected turn of the report: {text!r}")
        if button is not None:
            await button.click()
        else:
            await page.get_by_label("Votre message").fill(answer)
            await page.keyboard.press("Enter")
    raise AssertionError("the report never ended")


@pytest.mark.browser
async def test_the_widget_shows_the_update_when_the_citizen_reopens_a_closed_browser(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.async_api import async_playwright, expect
    from sanic import Sanic

    from bot.console.demo import create_demo_blueprint
    from tests.e2e.connectors.test_widget_browser import CHROMIUM_ARGS

    monkeypatch.setattr(Sanic, "test_mode", True)
    stack = running.stack
    site = Sanic(f"town_page_{uuid.uuid4().hex[:8]}", configure_logging=False)
    site.blueprint(create_demo_blueprint(stack.rasa_url))
    server = await site.create_server(host="127.0.0.1", port=PAGE_PORT, return_asyncio_server=True)
    assert server is not None
    await server.startup()
    try:
        async with async_playwright() as playwright:
            chromium = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            context = await chromium.new_context(locale="fr-FR")
            page = await context.new_page()
            await page.goto(f"{PAGE_ORIGIN}/")
            await page.get_by_role("button", name="Une question ? Discutez avec la mairie").click()
            ref = await report_in_widget(page, "rue Serviez")

            kept_on_disk = await context.storage_state()  # what the browser keeps when it is closed
            await context.close()  # the citizen closes the browser: the socket and the tab's storage are gone
            set_status(stack, ref, "planifie", "Intervention prévue lundi.")
            wait_for(lambda: [j["status"] for j in outbox_of(stack, ref)] == ["sent"], 60, "never handed over")
            await asyncio.sleep(3)
            assert [j["status"] for j in outbox_of(stack, ref)] == ["sent"]

            context = await chromium.new_context(locale="fr-FR", storage_state=kept_on_disk)  # the browser again
            page = await context.new_page()
            await page.goto(f"{PAGE_ORIGIN}/")
            launcher = page.get_by_role("button", name=re.compile(re.escape("Une question ? Discutez avec la mairie")))
            await expect(launcher).to_contain_text("nouveau message", timeout=30_000)  # arrived with the chat closed
            wait_for(lambda: [j["status"] for j in outbox_of(stack, ref)] == ["delivered"], 30, "never delivered")
            await launcher.click()
            log = page.get_by_role("log")
            await expect(log).to_contain_text(f"une intervention est planifiée pour votre signalement {ref}")
            await expect(log).to_contain_text("Intervention prévue lundi.")
            await page.screenshot(path="/tmp/guichet-widget-update-after-return.png")
            await chromium.close()
    finally:
        server.close()
        await server.wait_closed()
