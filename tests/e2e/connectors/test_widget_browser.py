"""The web chat widget in headless Chromium: privacy before opening, keyboard-only use, reload, 320 px, axe-core."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, WebSocketRoute, async_playwright, expect
from sanic import Sanic, response
from sanic.request import Request

from bot.console.demo import create_demo_blueprint
from tests.conftest import free_port
from tests.e2e.connectors.test_webchat_socketio import PNG, EchoServer, echo_server

pytestmark = pytest.mark.browser

AXE_JS = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOT = Path("/tmp/guichet-widget-open.png")
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
LAUNCHER = "Une question ? Discutez avec la mairie"


@pytest.fixture(autouse=True)
def several_sanic_apps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sanic 21.12 can start a second app in one process only in test mode."""
    monkeypatch.setattr(Sanic, "test_mode", True)


@dataclass
class Site:
    """The demonstration town page on one origin, the web chat channel on another."""

    page_url: str
    chat: EchoServer


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    """Serve demo.html and the widget from a tiny static server, and the echo channel from another port."""
    page_port = free_port()
    page_origin = f"http://127.0.0.1:{page_port}"
    async with echo_server(tmp_path, origins=[page_origin]) as chat:
        app = Sanic(f"demo_page_{uuid.uuid4().hex[:8]}", configure_logging=False)
        app.blueprint(create_demo_blueprint(chat.url))
        server = await app.create_server(host="127.0.0.1", port=page_port, return_asyncio_server=True)
        assert server is not None
        await server.startup()
        try:
            yield Site(f"{page_origin}/", chat)
        finally:
            server.close()
            await server.wait_closed()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Browser, site: Site) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1024, "height": 768}, locale="fr-FR")
    tab = await context.new_page()
    await tab.goto(site.page_url)
    yield tab
    await context.close()


async def stored_in_browser(page: Page) -> dict[str, object]:
    return {
        "cookies": await page.context.cookies(),
        "localStorage": await page.evaluate("Object.keys(window.localStorage)"),
        "sessionStorage": await page.evaluate("Object.keys(window.sessionStorage)"),
    }


async def tab_to(page: Page, accessible_name: str, *, backwards: bool = False, limit: int = 30) -> None:
    """Press Tab (or Shift+Tab) until the focused element has this accessible text."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(limit):
        await page.keyboard.press(key)
        focused = await page.evaluate(
            "document.activeElement.getAttribute('aria-label') || document.activeElement.textContent.trim()"
        )
        if focused == accessible_name:
            return
    raise AssertionError(f"{accessible_name!r} never received the focus")


async def open_with_keyboard(page: Page) -> None:
    await tab_to(page, LAUNCHER)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("dialog", name="Discuter avec la mairie")).to_be_visible()


async def send(page: Page, text: str) -> None:
    await page.keyboard.type(text)
    await page.keyboard.press("Enter")


async def axe_violations(page: Page) -> list[dict[str, object]]:
    assert AXE_JS.is_file(), "axe-core is missing: run `npm ci` in tests/e2e"
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE_JS))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    assert len(result["passes"]) > 20, "the audit did not run its rules"
    return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]} for v in result["violations"]]


async def test_nothing_is_stored_nor_connected_before_the_citizen_opens_the_chat(page: Page) -> None:
    await expect(page.get_by_role("button", name=LAUNCHER)).to_be_visible()
    await page.screenshot(path="/tmp/guichet-widget-closed.png")

    assert await stored_in_browser(page) == {"cookies": [], "localStorage": [], "sessionStorage": []}
    assert await page.evaluate("typeof window.io") == "undefined"


async def test_citizen_chats_with_the_keyboard_alone(page: Page) -> None:
    await open_with_keyboard(page)
    log = page.get_by_role("log")
    await expect(page.get_by_label("Votre message")).to_be_focused()
    await expect(log).to_have_attribute("aria-live", "polite")

    await send(page, "Bonjour")
    await expect(log).to_contain_text("Vous avez écrit : Bonjour")
    await tab_to(page, "Oui", backwards=True)
    await page.keyboard.press("Enter")
    await expect(log).to_contain_text("Choix reçu : /affirm")
    await expect(page.get_by_role("button", name="Oui")).to_be_disabled()
    await expect(page.get_by_label("Votre message")).to_be_focused()
    await page.keyboard.press("Escape")

    await expect(page.get_by_role("dialog")).to_be_hidden()
    await expect(page.get_by_role("button", name=LAUNCHER)).to_be_focused()
    assert (await stored_in_browser(page))["sessionStorage"] == ["guichet-chat"]
    assert (await stored_in_browser(page))["localStorage"] == ["guichet-chat-session"]  # its number only


async def kept_session(page: Page) -> dict[str, object] | None:
    return await page.evaluate("JSON.parse(window.localStorage.getItem('guichet-chat-session'))")


async def test_the_conversation_number_stays_on_the_device_and_can_be_erased(page: Page) -> None:
    await open_with_keyboard(page)
    await send(page, "Bonjour")
    log = page.get_by_role("log")
    await expect(log).to_contain_text("Vous avez écrit : Bonjour")
    kept = await kept_session(page)
    in_tab = await page.evaluate("JSON.parse(window.sessionStorage.getItem('guichet-chat')).sessionId")
    assert kept is not None and kept["sessionId"] == in_tab and set(kept) == {"sessionId", "expires"}
    await expect(page.get_by_role("dialog")).to_contain_text("reste 30 jours sur cet appareil")

    await page.get_by_role("button", name="Effacer la conversation de cet appareil").click()
    await expect(log).not_to_contain_text("Bonjour")
    await send(page, "Nouvelle question")
    await expect(log).to_contain_text("Vous avez écrit : Nouvelle question")
    renewed = await kept_session(page)
    assert renewed is not None and renewed["sessionId"] != in_tab


async def test_links_open_in_a_new_window_with_visible_text(page: Page) -> None:
    await open_with_keyboard(page)
    await send(page, "Un lien ?")

    link = page.get_by_role("log").get_by_role("link", name="le site de la ville (nouvelle fenêtre)")
    await expect(link).to_have_attribute("target", "_blank")
    await expect(link).to_have_attribute("rel", "noopener noreferrer")


async def test_the_assistant_typing_is_announced_once_then_cleared(page: Page) -> None:
    await open_with_keyboard(page)
    status = page.get_by_role("status")

    await send(page, "Répondez lentement")

    await expect(status).to_have_text("La mairie écrit…")
    await expect(page.get_by_role("log")).to_contain_text("Voici, après réflexion.")
    await expect(status).to_have_text("")


async def test_a_message_sent_before_the_connection_keeps_its_typing_announcement(page: Page) -> None:
    connected: list[WebSocketRoute] = []

    async def slow_network(route: WebSocketRoute) -> None:
        await asyncio.sleep(1.5)  # the citizen has sent a message before the chat is connected
        route.connect_to_server()
        connected.append(route)

    await page.route_web_socket(re.compile(r"/socket\.io/"), slow_network)
    await open_with_keyboard(page)
    status = page.get_by_role("status")

    await send(page, "Répondez lentement")

    await expect(status).to_have_text("La mairie écrit…")
    for _ in range(100):  # until the network lets the connection through
        if connected:
            break
        await asyncio.sleep(0.1)
    assert connected, "the widget never opened its WebSocket"
    await page.wait_for_timeout(400)  # connected meanwhile; the answer comes a second after the message arrives
    await expect(status).to_have_text("La mairie écrit…")
    await expect(page.get_by_role("log")).to_contain_text("Voici, après réflexion.")
    await expect(status).to_have_text("")


async def test_the_dialog_warns_about_sensitive_data_and_links_to_the_privacy_page(page: Page) -> None:
    await open_with_keyboard(page)
    dialog = page.get_by_role("dialog")

    await expect(dialog).to_contain_text("Ne communiquez pas de données sensibles")
    await expect(dialog).to_contain_text("conservés 180 jours")
    privacy = dialog.get_by_role("link", name="Vos droits sur vos données (nouvelle fenêtre)")
    await expect(privacy).to_have_attribute("href", re.compile(r"#donnees-personnelles$"))


async def test_citizen_attaches_a_photo(page: Page, tmp_path: Path) -> None:
    photo = tmp_path / "trou.png"
    photo.write_bytes(PNG)
    await open_with_keyboard(page)

    await page.locator("#guichet-widget input[type=file]").set_input_files(str(photo))

    await expect(page.get_by_role("log")).to_contain_text("Photo bien reçue.")
    await expect(page.get_by_role("log").get_by_role("img", name="Votre photo")).to_be_visible()


async def test_history_survives_a_page_reload(page: Page) -> None:
    await open_with_keyboard(page)
    await send(page, "Bonjour")
    await expect(page.get_by_role("log")).to_contain_text("Vous avez écrit : Bonjour")

    await page.reload()

    await expect(page.get_by_role("log")).to_contain_text("Vous avez écrit : Bonjour")
    await page.get_by_label("Votre message").focus()  # the reopened chat does not steal the focus
    await send(page, "Encore moi")
    await expect(page.get_by_role("log")).to_contain_text("Vous avez écrit : Encore moi")


@pytest.mark.parametrize(
    ("width", "height"),
    [(320, 568), (640, 360)],
    ids=["320 px phone", "200 % zoom of a 1280x720 screen"],
)
async def test_widget_is_usable_on_a_small_screen_and_at_200_percent_zoom(
    browser: Browser, site: Site, width: int, height: int
) -> None:
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    await page.goto(site.page_url)
    await open_with_keyboard(page)
    await send(page, "Bonjour")
    await expect(page.get_by_role("log")).to_contain_text("Vous avez écrit : Bonjour")

    await page.get_by_role("dialog").evaluate("node => Promise.all(node.getAnimations().map(a => a.finished))")
    await page.screenshot(path=f"/tmp/guichet-widget-{width}x{height}.png")
    dialog = await page.get_by_role("dialog").bounding_box()
    send_button = await page.get_by_role("button", name="Envoyer").bounding_box()
    scroll_width = await page.evaluate("document.documentElement.scrollWidth")
    await context.close()

    assert dialog is not None and send_button is not None
    assert dialog["x"] >= 0 and dialog["x"] + dialog["width"] <= width
    assert dialog["y"] >= 0 and dialog["y"] + dialog["height"] <= height
    assert send_button["x"] + send_button["width"] <= width and send_button["y"] + send_button["height"] <= height
    assert scroll_width <= width


async def test_reduced_motion_turns_animations_off(browser: Browser, site: Site) -> None:
    context = await browser.new_context(reduced_motion="reduce")
    page = await context.new_page()
    await page.goto(site.page_url)
    await open_with_keyboard(page)

    animation = await page.get_by_role("dialog").evaluate("node => getComputedStyle(node).animationName")
    await context.close()

    assert animation == "none"


async def test_a_lost_connection_is_announced_and_the_conversation_goes_on(page: Page, site: Site) -> None:
    sockets: list[WebSocketRoute] = []

    def pass_through(route: WebSocketRoute) -> None:
        route.connect_to_server()
        sockets.append(route)

    await page.route_web_socket(re.compile(r"/socket\.io/"), pass_through)
    await open_with_keyboard(page)
    await send(page, "Bonjour")
    await expect(page.get_by_role("log")).to_contain_text("Vous avez écrit : Bonjour")
    assert sockets, "the widget never upgraded to WebSocket"

    await sockets[-1].close(code=4000, reason="network lost")

    await expect(page.get_by_role("status")).to_have_text("Connexion perdue, en cours de reconnexion…")
    await expect(page.get_by_role("status")).to_have_text("Connexion rétablie.")
    await page.get_by_label("Votre message").focus()
    await send(page, "Toujours là ?")
    await expect(page.get_by_role("log")).to_contain_text("Vous avez écrit : Toujours là ?")
    assert len({message.sender_id for message in site.chat.received}) == 1


async def test_axe_finds_no_violation_with_the_chat_closed_and_open(browser: Browser, site: Site) -> None:
    # The page's CSP forbids injected scripts; only this audit bypasses it, to inject axe-core.
    context = await browser.new_context(viewport={"width": 1024, "height": 768}, bypass_csp=True)
    page = await context.new_page()
    await page.goto(site.page_url)
    closed = await axe_violations(page)
    await open_with_keyboard(page)
    await send(page, "Bonjour avec un lien")
    await send(page, "Bonjour")
    await expect(page.get_by_role("button", name="Non").last).to_be_visible()
    await page.screenshot(path=str(SCREENSHOT))

    opened = await axe_violations(page)
    await context.close()

    assert closed == []
    assert opened == []


RASA_WEBCHAT_JS = Path(__file__).resolve().parents[1] / "vendor" / "rasa-webchat-1.0.1.js"
RASA_WEBCHAT_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>rasa-webchat 1.x</title></head><body>
<script src="/rasa-webchat.js"></script>
<script>
WebChat.default({socketUrl: "%s", socketPath: "/socket.io/", title: "Mairie", params: {storage: "session"},
                 customData: {language: "fr"}}, null);
</script></body></html>"""


async def test_stock_rasa_webchat_1x_works_unchanged(browser: Browser, tmp_path: Path) -> None:
    page_port = free_port()
    async with echo_server(tmp_path, origins=[f"http://127.0.0.1:{page_port}"]) as chat:
        app = Sanic(f"rasa_webchat_page_{uuid.uuid4().hex[:8]}", configure_logging=False)

        @app.get("/")
        async def index(_: Request) -> response.HTTPResponse:
            return response.html(RASA_WEBCHAT_PAGE % chat.url)

        app.static("/rasa-webchat.js", str(RASA_WEBCHAT_JS))
        server = await app.create_server(host="127.0.0.1", port=page_port, return_asyncio_server=True)
        assert server is not None
        await server.startup()
        context = await browser.new_context()
        try:
            page = await context.new_page()
            await page.goto(f"http://127.0.0.1:{page_port}/")
            await page.locator(".rw-launcher").click()
            await page.locator(".rw-new-message").fill("Bonjour")
            await page.keyboard.press("Enter")
            await expect(page.get_by_text("Vous avez écrit : Bonjour")).to_be_visible()
            await page.locator(".rw-reply", has_text="Oui").click()
            await expect(page.get_by_text("Choix reçu : /affirm")).to_be_visible()
        finally:
            await context.close()
            server.close()
            await server.wait_closed()

    assert {message.sender_id for message in chat.received} == {chat.received[0].sender_id}
