"""The hand-over page in headless Chromium: an agent makes themself « disponible », and a citizen who starts waiting
shows up as a red badge without reloading the page (the page also chimes; only the visible part is checked here)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from bot.town.handoff import AgentPresence, HandoffStore
from tests.e2e.console.test_console_browser import SCREENSHOTS, axe_violations, browser, log_in  # noqa: F401
from tests.unit.console.test_console_pages import AGENT, Console, start_console

pytestmark = pytest.mark.browser


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    async for running in start_console(tmp_path):
        yield running


@pytest.fixture
async def page(browser, console: Console) -> AsyncIterator[Page]:  # type: ignore[no-untyped-def]  # noqa: F811
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR", bypass_csp=True)
    tab = await context.new_page()
    yield tab
    await context.close()


async def test_an_available_agent_sees_a_waiting_citizen_appear_as_a_badge(page: Page, console: Console) -> None:
    await log_in(page, console, "/handoffs")
    await expect(page.locator("#presence-state")).to_have_text("Vous êtes absent")
    await page.get_by_role("button", name="Me rendre disponible").click()
    await expect(page.locator("#presence-state")).to_have_text("Vous êtes disponible")
    assert AgentPresence(console.engine, presence_seconds=30).available_agents(time.time()) == [AGENT]
    await expect(page.locator("#waiting-badge")).to_have_count(0)

    HandoffStore(console.engine).open_request("webchat:5e5e5e5e", "webchat", time.time())

    badge = page.locator("#waiting-badge")
    await expect(badge).to_be_visible(timeout=15_000)  # the queue refreshes every 5 s, no reload
    await expect(badge).to_have_text("1 en attente")
    assert await badge.evaluate("el => getComputedStyle(el).backgroundColor") != "rgba(0, 0, 0, 0)"
    await page.screenshot(path=str(SCREENSHOTS / "guichet-console-handoff-badge.png"), full_page=True)
    assert await axe_violations(page) == []
