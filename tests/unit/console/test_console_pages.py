"""The console over HTTP on 127.0.0.1: login, sessions, CSRF, lock-out, roles, and each page."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sanic import Sanic
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.console import accounts, auth
from bot.console.pages import register_console
from bot.console.review import get_review
from bot.console.schema import audit_log, create_console_schema
from bot.db import create_engine_for
from bot.settings import Settings
from tests.conftest import free_port
from tests.unit.console.console_seed import at, seed_town_conversations, store, user

AGENT, ADMIN, PASSWORD = "agent@pau.example", "admin@pau.example", "mot de passe solide"
STAFF_PAGES = ["/conversations", "/conversations/telegram:777001", "/misunderstood", "/corrections.yml",
               "/analytics", "/analytics.csv", "/staff", "/audit"]  # fmt: skip


@dataclass
class Console:
    url: str
    engine: Engine


@pytest.fixture(autouse=True)
def test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sanic 21.12 starts several apps in one process only in test mode; argon2 kept cheap for speed."""
    monkeypatch.setattr(Sanic, "test_mode", True)
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setattr(auth, "_DUMMY_HASH", None)


async def start_console(tmp_path: Path, **settings: object) -> AsyncIterator[Console]:
    """A Sanic app with only the console registered, on a free port, with seeded conversations and two accounts."""
    url = f"sqlite:///{tmp_path / 'guichet.db'}"
    engine = create_engine_for(url)
    create_console_schema(engine)
    seed_town_conversations(engine)
    accounts.create_staff_user(engine, AGENT, "agent", PASSWORD)
    accounts.create_staff_user(engine, ADMIN, "admin", PASSWORD)
    app = Sanic(f"console_test_{uuid.uuid4().hex[:8]}", configure_logging=False)
    app.config.KEEP_ALIVE = False  # no idle connection left behind when the test's loop closes
    register_console(app, Settings(var_dir=tmp_path, database_url=url, **settings), engine=engine)
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.start_serving()
    try:
        yield Console(f"http://127.0.0.1:{port}", engine)
    finally:
        await stop(server)
        engine.dispose()


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    async for running in start_console(tmp_path):
        yield running


async def stop(server: Any) -> None:
    """Stop the server and drop its connections, so no connection task outlives the test."""
    server.close()
    await server.wait_closed()
    for connection in list(server.connections):
        connection.abort()
    await asyncio.sleep(0.05)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field in the form"
    return match.group(1)


async def log_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD, *, next_: str = "") -> httpx.Response:
    form = await client.get("/login", params={"next": next_} if next_ else None)
    return await client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_of(form.text), "next": next_}
    )


def client_for(console: Console) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=console.url, follow_redirects=False, timeout=10)


def audit_actions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r.action for r in conn.execute(select(audit_log).order_by(audit_log.c.id))]


@pytest.mark.parametrize("path", STAFF_PAGES)
async def test_anonymous_visitors_are_sent_to_login(console: Console, path: str) -> None:
    async with client_for(console) as client:
        response = await client.get(path, params={"page": "2"})
    assert response.status_code == 302
    assert response.headers["location"].startswith("/login?next=")
    assert httpx.URL(response.headers["location"]).params["next"] == f"{path}?page=2"


async def test_anonymous_posts_are_refused_too(console: Console) -> None:
    async with client_for(console) as client:
        response = await client.post("/conversations/telegram:777001/review", data={"reviewed": "1"})
    assert response.status_code == 302 and response.headers["location"].startswith("/login")


async def test_staff_member_logs_in_and_lands_where_they_were_going(console: Console) -> None:
    async with client_for(console) as client:
        response = await log_in(client, AGENT, next_="/analytics")
        assert response.status_code == 303 and response.headers["location"] == "/analytics"
        cookie = response.headers["set-cookie"]
        assert "guichet_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "Secure" not in cookie
        page = await client.get("/conversations")
    assert page.status_code == 200
    assert "agent@pau.example" in page.text and "5 conversations trouvées" in page.text
    assert (
        page.headers["cache-control"] == "no-store"
        and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    )


async def test_session_cookie_is_secure_behind_an_https_proxy(console: Console) -> None:
    async with client_for(console) as client:
        form = await client.get("/login", headers={"X-Forwarded-Proto": "https"})
        assert "Secure" in form.headers["set-cookie"]
        await client.get("/login")  # the test talks plain HTTP, so it needs a cookie it may send back
        response = await client.post(
            "/login",
            headers={"X-Forwarded-Proto": "https"},
            data={"email": AGENT, "password": PASSWORD, "csrf_token": client.cookies["guichet_login_csrf"]},
        )
    assert response.status_code == 303 and "Secure" in response.headers["set-cookie"]


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "javascript:alert(1)"])
async def test_login_never_redirects_off_site(console: Console, target: str) -> None:
    async with client_for(console) as client:
        response = await log_in(client, AGENT, next_=target)
    assert response.headers["location"] == "/conversations"


async def test_login_form_without_its_csrf_token_is_refused(console: Console) -> None:
    async with client_for(console) as client:
        await client.get("/login")
        response = await client.post("/login", data={"email": AGENT, "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 403 and "guichet_session" not in response.headers.get("set-cookie", "")


async def test_wrong_password_gets_a_neutral_french_message(console: Console) -> None:
    async with client_for(console) as client:
        response = await log_in(client, AGENT, "pas le bon mot de passe")
    assert response.status_code == 401 and "Connexion impossible" in response.text


async def test_account_is_locked_after_five_failures(console: Console) -> None:
    async with client_for(console) as client:
        for _ in range(5):
            assert (await log_in(client, AGENT, "devinette ratée")).status_code == 401
        locked = await log_in(client, AGENT)
        assert locked.status_code == 401 and "Connexion impossible" in locked.text
        other = await log_in(client, ADMIN)
    assert other.status_code == 303


async def test_post_with_a_wrong_csrf_token_is_refused(console: Console) -> None:
    async with client_for(console) as client:
        await log_in(client, AGENT)
        response = await client.post(
            "/conversations/telegram:777001/review", data={"reviewed": "1", "tags": "x", "csrf_token": "not-the-token"}
        )
        missing = await client.post("/misunderstood/correct", data={"event_id": "1", "intent": "greet"})
    assert response.status_code == 403 and missing.status_code == 403
    assert "review" not in audit_actions(console.engine)


@pytest.mark.parametrize("path", ["/staff", "/audit"])
async def test_agent_cannot_open_admin_pages_but_admin_can(console: Console, path: str) -> None:
    async with client_for(console) as agent:
        await log_in(agent, AGENT)
        refused = await agent.get(path)
    async with client_for(console) as admin:
        await log_in(admin, ADMIN)
        allowed = await admin.get(path)
    assert refused.status_code == 403 and "réservée aux administrateurs" in refused.text
    assert allowed.status_code == 200


async def test_transcript_shows_intents_and_links_tickets(console: Console) -> None:
    async with client_for(console) as client:
        await log_in(client, AGENT)
        page = await client.get("/conversations/telegram%3A777001")
    assert page.status_code == 200
    assert "report_problem" in page.text and "0,88" in page.text
    assert '<a href="/tickets/PAU-2026-000123">PAU-2026-000123</a>' in page.text
    assert "12 rue Serviez" not in page.text and "[adresse masquée]" in page.text


async def test_any_sender_id_opens_and_is_reviewed(console: Console) -> None:
    sender = "client rest/42:é"
    store(console.engine, sender, [user("horaires piscine", "ask_opening_hours", 0.9, at(27, 10))])
    async with client_for(console) as client:
        await log_in(client, AGENT)
        listing = await client.get("/conversations", params={"canal": "rest", "q": "piscine"})
        link = re.search(r'href="(/conversations/[^"]+)"', listing.text).group(1)
        page = await client.get(link)
        saved = await client.post(link + "/review", data={"reviewed": "1", "csrf_token": csrf_of(page.text)})
    assert page.status_code == 200 and "horaires piscine" in page.text
    assert saved.status_code == 303 and get_review(console.engine, sender).reviewed


async def test_unknown_conversation_is_a_404_page(console: Console) -> None:
    async with client_for(console) as client:
        await log_in(client, AGENT)
        assert (await client.get("/conversations/webchat:inconnu")).status_code == 404


async def test_agent_reviews_tags_and_notes_a_conversation(console: Console) -> None:
    async with client_for(console) as client:
        await log_in(client, AGENT)
        page = await client.get("/conversations/telegram:777001")
        saved = await client.post("/conversations/telegram:777001/review", data={
            "reviewed": "1", "tags": "éclairage, Urgent", "notes": "Transmis aux services techniques",
            "csrf_token": csrf_of(page.text)})  # fmt: skip
        assert saved.status_code == 303
        after = await client.get(saved.headers["location"])
        listed = await client.get("/conversations", params={"etiquette": "urgent", "revue": "oui"})
    assert "Revue enregistrée" in after.text and "Transmis aux services techniques" in after.text
    assert "1 conversation trouvée" in listed.text
    assert {"review", "tag", "note"} <= set(audit_actions(console.engine))


async def test_only_an_admin_reveals_masked_data_and_it_is_audited(console: Console) -> None:
    async with client_for(console) as agent:
        await log_in(agent, AGENT)
        page = await agent.get("/conversations/telegram:777001")
        assert "Afficher les données en clair" not in page.text
        refused = await agent.post("/conversations/telegram:777001/reveal", data={"csrf_token": csrf_of(page.text)})
    assert refused.status_code == 403
    async with client_for(console) as admin:
        await log_in(admin, ADMIN)
        page = await admin.get("/conversations/telegram:777001")
        revealed = await admin.post("/conversations/telegram:777001/reveal", data={"csrf_token": csrf_of(page.text)})
        again = await admin.get("/conversations/telegram:777001")
    assert revealed.status_code == 200 and "12 rue Serviez" in revealed.text
    assert "12 rue Serviez" not in again.text  # for that page view only
    assert audit_actions(console.engine).count("reveal") == 1


async def test_agent_corrects_a_misunderstood_message_and_downloads_the_training_data(console: Console) -> None:
    async with client_for(console) as client:
        await log_in(client, AGENT)
        queue = await client.get("/misunderstood")
        assert "blablabla zorglub" in queue.text
        event_id = re.search(r'name="event_id" value="(\d+)"', queue.text.split("blablabla zorglub", 1)[1]).group(1)
        corrected = await client.post("/misunderstood/correct", data={
            "event_id": event_id, "intent": "out_of_scope", "csrf_token": csrf_of(queue.text)})  # fmt: skip
        assert corrected.status_code == 303
        after = await client.get(corrected.headers["location"])
        export = await client.get("/corrections.yml")
    assert "blablabla zorglub" not in after.text and "Correction enregistrée" in after.text
    assert export.headers["content-disposition"] == 'attachment; filename="corrections.yml"'
    assert "- intent: out_of_scope" in export.text and "    - blablabla zorglub" in export.text


async def test_analytics_page_has_charts_with_text_alternatives_and_a_csv(console: Console) -> None:
    async with client_for(console) as client:
        await log_in(client, AGENT)
        page = await client.get("/analytics", params={"du": "2026-11-19", "au": "2026-11-26"})
        export = await client.get("/analytics.csv", params={"du": "2026-11-19", "au": "2026-11-26"})
    assert page.status_code == 200 and page.text.count('<svg xmlns="http://www.w3.org/2000/svg"') == 4
    assert "Données du graphique" in page.text and "12,5 %" in page.text and "80,0 %" in page.text
    assert export.headers["content-type"].startswith("text/csv")
    assert "taux_repli,,,0.1250" in export.text


async def test_admin_creates_and_disables_an_account(console: Console) -> None:
    async with client_for(console) as admin:
        await log_in(admin, ADMIN)
        page = await admin.get("/staff")
        created = await admin.post(
            "/staff",
            data={
                "action": "create",
                "email": "nouvel.agent@pau.example",
                "role": "agent",
                "password": PASSWORD,
                "csrf_token": csrf_of(page.text),
            },
        )
        too_short = await admin.post(
            "/staff",
            data={
                "action": "create",
                "email": "x@pau.example",
                "role": "agent",
                "password": "court",
                "csrf_token": csrf_of(page.text),
            },
        )
        new_id = next(u.id for u in accounts.list_staff_users(console.engine) if u.email == "nouvel.agent@pau.example")
        disabled = await admin.post(
            "/staff", data={"action": "disable", "user_id": str(new_id), "csrf_token": csrf_of(page.text)}
        )
    assert "Compte créé pour nouvel.agent@pau.example" in created.text
    assert too_short.status_code == 400 and "au moins 12 caractères" in too_short.text
    assert disabled.status_code == 200 and "désactivé" in disabled.text
    async with client_for(console) as newcomer:
        assert (await log_in(newcomer, "nouvel.agent@pau.example")).status_code == 401
    assert {"account_create", "account_disable"} <= set(audit_actions(console.engine))


async def test_logout_ends_the_session(console: Console) -> None:
    async with client_for(console) as client:
        await log_in(client, AGENT)
        page = await client.get("/conversations")
        response = await client.post("/logout", data={"csrf_token": csrf_of(page.text)})
        assert response.status_code == 303 and response.headers["location"] == "/login"
        assert (await client.get("/conversations")).status_code == 302
    assert audit_actions(console.engine)[-1] == "logout"


async def test_fresh_install_without_conversations_shows_an_empty_list(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'guichet.db'}"
    app = Sanic(f"console_fresh_{uuid.uuid4().hex[:8]}", configure_logging=False)
    app.config.KEEP_ALIVE = False
    register_console(app, Settings(var_dir=tmp_path / "fresh", database_url=url))
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    await server.start_serving()
    try:
        engine = app.ctx.console.engine
        accounts.create_staff_user(engine, AGENT, "agent", PASSWORD)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", follow_redirects=False) as client:
            await log_in(client, AGENT)
            listing = await client.get("/conversations")
            analytics = await client.get("/analytics")
            queue = await client.get("/misunderstood")
    finally:
        await stop(server)
    assert listing.status_code == 200 and "0 conversation trouvée" in listing.text, listing.text[-1500:]
    assert analytics.status_code == 200 and queue.status_code == 200
