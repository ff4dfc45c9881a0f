"""The staff console in headless Chromium: log in, filter, read a transcript, correct an intent, see analytics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from playwright.async_api import Browser, Page, async_playwright, expect
from sanic import Sanic

from bot.console import auth
from tests.unit.console.test_console_pages import ADMIN, AGENT, PASSWORD, Console, start_console

pytestmark = pytest.mark.browser

AXE_JS = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path("/tmp")
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(autouse=True)
def test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Sanic, "test_mode", True)
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setattr(auth, "_DUMMY_HASH", None)


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    async for running in start_console(tmp_path):
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Browser, console: Console) -> AsyncIterator[Page]:
    # bypass_csp lets the test inject axe-core; the console itself runs no script at all.
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR", bypass_csp=True)
    tab = await context.new_page()
    yield tab
    await context.close()


async def log_in(page: Page, console: Console, path: str = "/conversations") -> None:
    await page.goto(console.url + path)
    await expect(page).to_have_url(console.url + "/login?next=" + path.replace("/", "%2F"))
    await page.get_by_label("Adresse e-mail professionnelle").fill(AGENT)
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page).to_have_url(console.url + path)


async def axe_violations(page: Page) -> list[dict[str, object]]:
    assert AXE_JS.is_file(), "axe-core is missing: run `npm ci` in tests/e2e"
    await page.add_script_tag(path=str(AXE_JS))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    assert len(result["passes"]) > 15, "the audit did not run its rules"
    return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]} for v in result["violations"]]


async def test_agent_logs_in_filters_and_reads_a_transcript_with_intents(page: Page, console: Console) -> None:
    await log_in(page, console)
    await expect(page.get_by_role("heading", level=1, name="Conversations")).to_be_visible()
    await expect(page.get_by_role("status")).to_have_text("5 conversations trouvées")
    await page.screenshot(path=str(SCREENSHOTS / "guichet-console-conversations.png"), full_page=True)
    assert await axe_violations(page) == []

    await page.get_by_label("Canal").select_option("telegram")
    await page.get_by_label("Référence de ticket donnée").select_option("oui")
    await page.get_by_role("button", name="Filtrer").click()
    await expect(page.get_by_role("status")).to_have_text("1 conversation trouvée")
    await expect(page).to_have_url(
        f"{console.url}/conversations?q=&canal=telegram&du=&au=&intention=&confiance_min=&"
        "confiance_max=&repli=&humain=&ticket=oui&revue=&etiquette="
    )

    await page.get_by_role("link", name="un lampadaire est en panne au [adresse masquée]").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("telegram:777001")
    await expect(page.locator(".event-user .intent")).to_have_text("report_problem")
    await expect(page.get_by_role("link", name="PAU-2026-000123").first).to_have_attribute(
        "href", "/tickets/PAU-2026-000123"
    )
    await expect(page.get_by_text("12 rue Serviez")).to_have_count(0)
    await page.screenshot(path=str(SCREENSHOTS / "guichet-console-transcript.png"), full_page=True)
    assert await axe_violations(page) == []

    await page.get_by_label("Conversation revue").check()
    await page.get_by_label("Étiquettes").fill("éclairage")
    await page.get_by_role("button", name="Enregistrer la revue").click()
    await expect(page.get_by_text("Revue enregistrée.")).to_be_visible()


async def test_skip_link_and_keyboard_focus_reach_the_content(page: Page, console: Console) -> None:
    await page.goto(console.url + "/login")
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Aller au contenu")
    await expect(skip).to_be_focused()
    outline = await skip.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline == "solid"
    await page.keyboard.press("Enter")
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("Adresse e-mail professionnelle")).to_be_focused()
    assert await axe_violations(page) == []


async def test_agent_corrects_an_intent_in_the_misunderstood_queue(page: Page, console: Console) -> None:
    await log_in(page, console, "/misunderstood")
    row = page.get_by_role("row").filter(has_text="ou est la piscine")
    await expect(row).to_contain_text("réponse contestée")
    await page.screenshot(path=str(SCREENSHOTS / "guichet-console-misunderstood.png"), full_page=True)
    await row.get_by_label("Bonne intention pour ce message").select_option("ask_opening_hours")
    await row.get_by_role("button", name="Corriger").click()
    await expect(page.get_by_text("Correction enregistrée : ask_opening_hours.")).to_be_visible()
    await expect(page.get_by_role("row").filter(has_text="ou est la piscine")).to_have_count(0)
    assert await axe_violations(page) == []

    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Télécharger les corrections (YAML Rasa NLU)").click()
    download = await download_info.value
    content = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8")
    assert "- intent: ask_opening_hours" in content and "    - ou est la piscine" in content


async def test_agent_sees_analytics_charts(page: Page, console: Console) -> None:
    await log_in(page, console, "/analytics")
    await page.get_by_label("Du", exact=True).fill("2026-11-19")
    await page.get_by_label("Au", exact=True).fill("2026-11-26")
    await page.get_by_role("button", name="Afficher").click()
    charts = page.get_by_role("img")
    await expect(charts).to_have_count(4)
    await expect(page.get_by_role("img", name="Intentions les plus fréquentes")).to_be_visible()
    await page.get_by_text("Données du graphique « Intentions les plus fréquentes »").click()
    await expect(page.get_by_role("table", name="Intentions les plus fréquentes")).to_be_visible()
    await page.screenshot(path=str(SCREENSHOTS / "guichet-console-analytics.png"), full_page=True)
    assert await axe_violations(page) == []


async def test_admin_resets_a_password_and_the_agent_chooses_a_new_one(page: Page, console: Console) -> None:
    await page.goto(console.url + "/login?next=%2Fstaff")
    await page.get_by_label("Adresse e-mail professionnelle").fill(ADMIN)
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page).to_have_url(console.url + "/staff")
    await page.get_by_role("button", name=f"Réinitialiser le mot de passe de {AGENT}").click()
    shown = page.get_by_role("status").filter(has_text="Mot de passe temporaire de agent@pau.example")
    temporary = await shown.locator("strong").inner_text()
    assert len(temporary) == 19
    await page.screenshot(path=str(SCREENSHOTS / "guichet-console-staff-reset.png"), full_page=True)
    assert await axe_violations(page) == []
    await page.get_by_role("button", name="Se déconnecter").click()

    await page.get_by_label("Adresse e-mail professionnelle").fill(AGENT)
    await page.get_by_label("Mot de passe").fill(temporary)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page).to_have_url(console.url + "/mot-de-passe")
    await expect(page.get_by_role("alert")).to_contain_text("mot de passe temporaire")
    assert await axe_violations(page) == []
    await page.get_by_label("Mot de passe actuel").fill(temporary)
    await page.locator("#new-password").fill("une toute autre phrase")
    await page.get_by_label("Nouveau mot de passe, à nouveau").fill("une toute autre phrase")
    await page.get_by_role("button", name="Changer le mot de passe").click()
    await expect(page.get_by_role("status")).to_have_text("Mot de passe changé. Vos autres sessions ont été fermées.")
    await page.get_by_role("link", name="Conversations").click()
    await expect(page.get_by_role("heading", level=1, name="Conversations")).to_be_visible()
