"""The catalog edited in the console reaches the assistant: on the real stack (action server, rasa server, console),
in headless Chromium, an agent closes the town hall for tomorrow and the REST channel says so within 5 s, then the
closure is removed and the usual hours come back; an admin changes a phone number and the answer gives it; the
directory import waits as a draft until an admin accepts it in the browser."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from bot.console import accounts
from bot.settings import ROOT
from tests.e2e.console.test_console_browser import CHROMIUM_ARGS, SCREENSHOTS, axe_violations
from tests.e2e.guichet_stack import Stack, start_stack
from tests.unit.console.test_console_pages import ADMIN, AGENT, PASSWORD

pytestmark = pytest.mark.browser

LIVE_WITHIN_SECONDS = 5.0
CLOCK = "2026-03-10T11:20:00"  # Tuesday 10 March 2026, 11:20 in Pau: tomorrow is Wednesday 11 March
TOMORROW = "2026-03-11"
QUESTION = "la mairie est ouverte demain ?"
USUAL = "La mairie est ouverte demain de 8h30 à 12h et de 13h30 à 17h."
CLOSED = "La mairie est exceptionnellement fermée demain : Inventaire. Elle rouvre jeudi à 8h30."


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("catalog_console"), CLOCK_OVERRIDE=CLOCK)
    engine = running.engine()  # the console created its tables when it started
    try:
        accounts.create_staff_user(engine, AGENT, "agent", PASSWORD)
        accounts.create_staff_user(engine, ADMIN, "admin", PASSWORD)
    finally:
        engine.dispose()
    yield running
    running.stop_all()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR", bypass_csp=True)
    tab = await context.new_page()
    yield tab
    await context.close()


def console_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.settings.console_port}"


async def sign_in(page: Page, stack: Stack, email: str) -> None:
    await page.goto(console_url(stack) + "/catalog")
    await page.get_by_label("Adresse e-mail professionnelle").fill(email)
    await page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.get_by_role("heading", level=1, name="Catalogue de la ville")).to_be_visible()


async def answer(stack: Stack, question: str) -> str:
    """What the assistant answers on the REST channel, in a fresh conversation."""
    reply = await asyncio.to_thread(stack.say, f"catalogue-{uuid.uuid4().hex[:8]}", question, 30)
    reply.raise_for_status()
    return "\n".join(message.get("text", "") for message in reply.json())


async def seconds_until_answer_contains(stack: Stack, question: str, expected: str) -> float:
    """How long from now until the assistant's answer contains `expected` (fails after twice the allowed delay)."""
    start = time.monotonic()
    while expected not in (said := await answer(stack, question)):
        assert time.monotonic() - start < 2 * LIVE_WITHIN_SECONDS, f"still answering: {said}"
        await asyncio.sleep(0.2)
    return time.monotonic() - start


async def test_an_agent_closes_the_town_hall_tomorrow_and_the_assistant_says_so_within_five_seconds(
    page: Page, stack: Stack
) -> None:
    assert USUAL in await answer(stack, QUESTION)
    await sign_in(page, stack, AGENT)
    await page.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Catalogue").click()
    await page.get_by_role("link", name="Hôtel de ville de Pau").click()
    await page.get_by_label("Premier jour fermé").fill(TOMORROW)
    await page.get_by_label("Motif (dit aux citoyens)").fill("Inventaire")
    await page.get_by_role("button", name="Ajouter la fermeture").click()
    await expect(page.get_by_role("status").first).to_contain_text("Fermeture ajoutée")
    assert await seconds_until_answer_contains(stack, QUESTION, CLOSED) < LIVE_WITHIN_SECONDS
    await expect(page.locator(".preview")).to_contain_text(CLOSED)  # the preview is the citizen's answer
    await page.screenshot(path=str(SCREENSHOTS / "guichet-console-catalog-service.png"), full_page=True)
    assert await axe_violations(page) == []

    await page.get_by_role("button", name="Retirer la fermeture du 11/03/2026").click()
    await expect(page.get_by_role("status").first).to_contain_text("Fermeture retirée")
    assert await seconds_until_answer_contains(stack, QUESTION, USUAL) < LIVE_WITHIN_SECONDS


async def test_an_admin_changes_the_phone_and_preview_and_answer_give_the_new_number(page: Page, stack: Stack) -> None:
    await sign_in(page, stack, ADMIN)
    await page.get_by_role("link", name="Hôtel de ville de Pau").click()
    await page.get_by_label("Téléphone", exact=True).fill("05 36 49 10 77")
    await page.get_by_role("button", name="Prévisualiser les réponses").click()
    await expect(page.locator(".preview")).to_contain_text("Téléphone : 05 36 49 10 77")
    await expect(page.get_by_role("heading", name="Ce que l'assistant répond (aperçu, non enregistré)")).to_be_visible()
    await page.get_by_role("button", name="Enregistrer").click()
    await expect(page.get_by_role("status").first).to_contain_text("Modification enregistrée")
    await expect(page.locator(".preview")).to_contain_text("Téléphone : 05 36 49 10 77")
    assert await seconds_until_answer_contains(stack, "quel est le numéro de la mairie ?", "05 36 49 10 77") < (
        LIVE_WITHIN_SECONDS
    )

    await page.get_by_label("Téléphone", exact=True).fill("05 36 49")
    await page.get_by_role("button", name="Enregistrer").click()
    field_error = page.locator("#f-phone-erreur")
    await expect(field_error).to_have_text("'05 36 49' n'est pas un numéro comme 05 36 49 10 00")
    await expect(page.get_by_label("Téléphone", exact=True)).to_have_attribute("aria-invalid", "true")


async def test_the_directory_import_waits_as_a_draft_until_an_admin_accepts_it(page: Page, stack: Stack) -> None:
    question = "la médiathèque est ouverte demain ?"
    export = ROOT / "tests" / "data" / "annuaire" / "export_pau.json"
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot", "import-annuaire", str(export)], cwd=ROOT, env=stack.env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and "kept as a draft" in done.stdout, done.stderr
    await asyncio.sleep(2 * stack.settings.catalog_check_seconds)
    assert "de 10h à 19h" in await answer(stack, question)  # nothing merged by the import itself

    await sign_in(page, stack, ADMIN)
    await expect(page.get_by_role("heading", name="Import de l'annuaire à relire (6)")).to_be_visible()
    draft = page.get_by_role("article").filter(has_text="(mediatheque)")
    wednesday = draft.get_by_role("row").filter(has_text="hours.wednesday").get_by_role("cell")
    await expect(wednesday).to_have_text(["10:00-19:00", "10:00-18:00"])  # before, after
    assert await axe_violations(page) == []
    await draft.get_by_role("button", name="Accepter la fiche mediatheque").click()
    await expect(page.get_by_role("status").first).to_contain_text("Fiche fusionnée")
    await expect(page.get_by_role("heading", name="Import de l'annuaire à relire (5)")).to_be_visible()
    assert await seconds_until_answer_contains(stack, question, "de 10h à 18h") < LIVE_WITHIN_SECONDS

    for path in ("/catalog/procedures/passeport", "/catalog/collecte"):
        await page.goto(console_url(stack) + path)
        assert await axe_violations(page) == [], path
