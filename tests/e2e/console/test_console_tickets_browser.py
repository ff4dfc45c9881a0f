"""Tickets and the live handoff in headless Chromium, on the real console app with a recording fake rasa server.

The console runs as `create_app` builds it (outbox worker and handoff sweeper included); the fake rasa server
records what the console asks of the rasa HTTP API (notifications, agent replies, hand back).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from playwright.async_api import Browser, Page, async_playwright, expect
from sanic import Sanic, response
from sanic.request import Request
from sqlalchemy.engine import Engine

from bot.console import accounts, auth
from bot.console.app import create_app
from bot.console.schema import create_console_schema
from bot.db import create_engine_for
from bot.settings import Settings
from bot.town.handoff import HandoffStore, create_handoff_schema
from bot.town.tickets import TicketDraft, TicketStore, create_schema
from tests.conftest import free_port
from tests.e2e.console.test_console_browser import CHROMIUM_ARGS, SCREENSHOTS, axe_violations
from tests.unit.console.console_seed import action, bot, seed_town_conversations, store, user
from tests.unit.console.test_console_pages import AGENT, PASSWORD, stop

pytestmark = pytest.mark.browser

SENDER = "webchat:3c2b1a0f9e8d7c6b"


@pytest.fixture(autouse=True)
def test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Sanic, "test_mode", True)
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setattr(auth, "_DUMMY_HASH", None)


@dataclass
class FakeRasa:
    """What the console asked of the rasa server's HTTP API."""

    calls: list[tuple[str, str, Any]] = field(default_factory=list)

    def of(self, suffix: str) -> list[Any]:
        return [body for path, _query, body in self.calls if path.endswith(suffix)]


@dataclass
class Running:
    url: str
    engine: Engine
    ticket_ref: str
    request_id: int
    rasa: FakeRasa


async def serve(app: Sanic) -> tuple[Any, int]:
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.start_serving()
    await server.after_start()
    return server, port


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    fake = FakeRasa()
    rasa_app = Sanic(f"fake_rasa_{uuid.uuid4().hex[:8]}", configure_logging=False)

    @rasa_app.post("/conversations/<sender:path>")
    async def record(request: Request, sender: str) -> Any:
        fake.calls.append((request.path, request.query_string, request.json))
        if "output_channel" not in request.args:  # as Rasa does: no output channel, the rendered messages come back
            return response.json({"tracker": {}, "messages": [{"recipient_id": sender, "text": "Mise à jour."}]})
        return response.json({})

    rasa_server, rasa_port = await serve(rasa_app)

    url = f"sqlite:///{tmp_path / 'guichet.db'}"
    engine = create_engine_for(url)
    for create in (create_console_schema, create_schema, create_handoff_schema):
        create(engine)
    seed_town_conversations(engine)
    accounts.create_staff_user(engine, AGENT, "agent", PASSWORD)
    ref = TicketStore(engine).create_ticket(
        TicketDraft("voirie", "nid-de-poule profond", "12 Rue Serviez", lat=43.2961, long=-0.37,
                    channel="webchat", sender_id=SENDER, contact="+33612345678")
    ).ref  # fmt: skip
    TicketStore(engine).create_ticket(TicketDraft("graffiti", "tag sur la façade", "Rue Carnot", channel="sms",
                                                  sender_id="sms:p-9"))  # fmt: skip
    store(engine, SENDER, [
        action("action_listen", 1_795_000_000), user("je veux parler a un agent", "request_human", 0.96, 1_795_000_001),
        action("action_request_human", 1_795_000_002), bot("Je transmets votre demande.", 1_795_000_002),
    ])  # fmt: skip
    request_id = HandoffStore(engine).open_request(SENDER, "webchat", 4_000_000_000.0).id  # never times out here

    settings = Settings(var_dir=tmp_path, database_url=url, rasa_port=rasa_port, rasa_token="jeton")
    console_app = create_app(settings, name=f"console_{uuid.uuid4().hex[:8]}")
    console_app.config.KEEP_ALIVE = False
    console_server, console_port = await serve(console_app)
    try:
        yield Running(f"http://127.0.0.1:{console_port}", engine, ref, request_id, fake)
    finally:
        await console_server.before_stop()
        await stop(console_server)
        await stop(rasa_server)
        engine.dispose()


@pytest.fixture
async def page(running: Running) -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        chromium: Browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = await chromium.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR", bypass_csp=True)
        yield await context.new_page()
        await context.close()
        await chromium.close()


async def log_in(page: Page, running: Running, path: str) -> None:
    await page.goto(running.url + path)
    await page.get_by_label("Adresse e-mail professionnelle").fill(AGENT)
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page).to_have_url(running.url + path)


async def test_agent_filters_tickets_changes_a_status_and_the_citizen_is_notified(page: Page, running: Running) -> None:
    await log_in(page, running, "/tickets")
    await expect(page.get_by_role("status")).to_have_text("2 tickets trouvés")
    assert await axe_violations(page) == []

    await page.get_by_label("Catégorie").select_option("voirie")
    await page.get_by_label("Rue").fill("rue serviez")
    await page.get_by_role("button", name="Filtrer").click()
    await expect(page.get_by_role("status")).to_have_text("1 ticket trouvé")
    await page.get_by_role("link", name=running.ticket_ref).click()

    await expect(page.get_by_role("heading", level=1)).to_contain_text(running.ticket_ref)
    await expect(page.get_by_role("link", name="Voir sur OpenStreetMap (nouvel onglet)")).to_be_visible()
    await expect(page.get_by_text("06 •• •• •• 78")).to_be_visible()
    assert "12 34 56" not in await page.content()
    await page.get_by_role("button", name=f"Afficher le contact du ticket {running.ticket_ref}").click()
    await expect(page.get_by_text("+33612345678")).to_be_visible()
    assert await axe_violations(page) == []
    await page.get_by_label("Nouvel état").select_option("planifie")
    await page.get_by_label("Note pour le citoyen").fill("Intervention prévue jeudi matin.")
    await page.get_by_role("button", name="Enregistrer et prévenir le citoyen").click()
    await expect(page.get_by_text("État enregistré. Le citoyen en sera informé sur son canal.")).to_be_visible()
    await expect(page.locator("ol.transcript")).to_contain_text("Planifié — par agent@pau.example")
    assert await axe_violations(page) == []

    for _ in range(20):  # the outbox worker sends within a couple of seconds
        if running.rasa.of("/trigger_intent"):
            break
        await asyncio.sleep(0.5)
    (notification,) = running.rasa.of("/trigger_intent")
    assert notification["name"] == "EXTERNAL_ticket_update"
    assert notification["entities"]["ticket_ref"] == running.ticket_ref
    assert notification["entities"]["status_note"] == "Intervention prévue jeudi matin."
    await page.reload()
    # Nobody's browser is connected here: handed over, held for the citizen, not delivered.
    await expect(page.locator("tr.outbox-job")).to_contain_text("envoyée, pas encore reçue")
    await page.screenshot(path=str(SCREENSHOTS / "guichet-console-ticket.png"), full_page=True)


async def test_agent_takes_over_a_conversation_replies_and_hands_back(page: Page, running: Running) -> None:
    await log_in(page, running, "/handoffs")
    await expect(page.get_by_text("1 demande en cours")).to_be_visible()
    assert await axe_violations(page) == []
    await page.get_by_role("button", name=f"Prendre en charge la demande n° {running.request_id}").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("pris en charge par agent@pau.example")
    await expect(page.locator("#live-messages")).to_contain_text("je veux parler a un agent")

    # The citizen writes while the bot is paused: the message shows up without reloading the page.
    store(running.engine, SENDER, [user("c'est au sujet de la cantine", "inform", 0.7, 1_795_000_100)])
    await expect(page.locator("#live-messages")).to_contain_text("c'est au sujet de la cantine", timeout=10_000)
    assert await axe_violations(page) == []

    await page.get_by_label("Votre message au citoyen").fill("Bonjour, je regarde votre dossier de cantine.")
    await page.get_by_role("button", name="Envoyer").click()
    await expect(page.get_by_text("Réponse envoyée au citoyen.")).to_be_visible()
    (reply,) = running.rasa.of("/tracker/events")
    assert reply == {"event": "bot", "text": "Bonjour, je regarde votre dossier de cantine.",
                     "timestamp": reply["timestamp"], "metadata": {"handoff": "agent"}}  # fmt: skip
    await page.screenshot(path=str(SCREENSHOTS / "guichet-console-handoff.png"), full_page=True)

    await page.get_by_role("button", name="Rendre la conversation à l'assistant").click()
    await expect(page.get_by_text("Conversation rendue à l'assistant.")).to_be_visible()
    assert running.rasa.of("/tracker/events")[-1] == [{"event": "resume"}, {"event": "action", "name": "action_listen"}]
    assert running.rasa.of("/trigger_intent")[-1] == {"name": "EXTERNAL_handoff_update"}
