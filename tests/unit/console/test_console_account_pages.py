"""The console's account doors over HTTP: the client's address behind the proxy, the lock-out per account, the
password change, the admin's reset and role change, and who may reach them."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.console import accounts
from bot.console.schema import login_attempts, staff_users
from tests.unit.console.test_console_pages import (
    ADMIN,
    AGENT,
    PASSWORD,
    Console,
    audit_actions,
    client_for,
    csrf_of,
    log_in,
    start_console,
)

NEW_PASSWORD = "une toute autre phrase"


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    async for running in start_console(tmp_path):
        yield running


@pytest.fixture
async def proxied(tmp_path: Path) -> AsyncIterator[Console]:
    """The console behind one reverse proxy (PROXIES_COUNT=1), as in docs/deployment.md."""
    async for running in start_console(tmp_path, proxies_count=1):
        yield running


def user_id(console: Console, email: str) -> int:
    return next(u.id for u in accounts.list_staff_users(console.engine) if u.email == email)


def recorded_addresses(console: Console) -> list[str]:
    with console.engine.connect() as conn:
        return [row.ip for row in conn.execute(select(login_attempts.c.ip).order_by(login_attempts.c.id))]


async def staff_action(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    token = csrf_of((await client.get("/conversations")).text)
    return await client.post("/staff", data={"csrf_token": token, **fields})


# --- the proxy and the lock-out -------------------------------------------------------------------------------


async def test_behind_the_proxy_the_forwarded_address_is_recorded(proxied: Console) -> None:
    async with client_for(proxied) as client:
        form = await client.get("/login")
        await client.post(
            "/login",
            headers={"X-Forwarded-For": "192.0.2.66, 203.0.113.7"},  # a client-made hop, then the proxy's
            data={"email": AGENT, "password": "raté raté raté", "csrf_token": csrf_of(form.text)},
        )
    assert recorded_addresses(proxied) == ["203.0.113.7"]


async def test_without_a_proxy_a_forwarded_header_is_not_believed(console: Console) -> None:
    async with client_for(console) as client:
        form = await client.get("/login")
        await client.post(
            "/login",
            headers={"X-Forwarded-For": "203.0.113.7"},
            data={"email": AGENT, "password": "raté raté raté", "csrf_token": csrf_of(form.text)},
        )
    assert recorded_addresses(console) == ["127.0.0.1"]


@pytest.mark.parametrize("behind_proxy", [True, False])
async def test_twenty_failed_logins_for_one_account_do_not_lock_out_the_others(
    tmp_path: Path, behind_proxy: bool
) -> None:
    async for running in start_console(tmp_path, proxies_count=1 if behind_proxy else 0):
        attacker = {"X-Forwarded-For": "203.0.113.7"} if behind_proxy else {}
        colleague = {"X-Forwarded-For": "198.51.100.20"} if behind_proxy else {}
        async with client_for(running) as client:
            for i in range(20):
                form = await client.get("/login")
                refused = await client.post("/login", headers=attacker, data={
                    "email": AGENT, "password": f"devinette {i}", "csrf_token": csrf_of(form.text)})  # fmt: skip
                assert refused.status_code == 401
        async with client_for(running) as other:
            form = await other.get("/login")
            admitted = await other.post("/login", headers=colleague, data={
                "email": ADMIN, "password": PASSWORD, "csrf_token": csrf_of(form.text)})  # fmt: skip
        assert admitted.status_code == 303


# --- who may reach the doors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/mot-de-passe"), ("POST", "/mot-de-passe"), ("GET", "/staff"), ("POST", "/staff")]
)
async def test_a_stranger_is_sent_to_login(console: Console, method: str, path: str) -> None:
    async with client_for(console) as stranger:
        response = await stranger.request(method, path, data={"action": "reset", "user_id": "1"})
    assert response.status_code == 302 and response.headers["location"].startswith("/login?next=")
    assert "password_reset" not in audit_actions(console.engine)


@pytest.mark.parametrize(
    "fields",
    [{"action": "reset"}, {"action": "role", "role": "agent"}, {"action": "disable"}, {"action": "create"}],
)
async def test_an_agent_is_refused_on_the_admin_page(console: Console, fields: dict[str, str]) -> None:
    admin_id = user_id(console, ADMIN)
    with console.engine.connect() as conn:
        before = conn.execute(select(staff_users).order_by(staff_users.c.id)).all()
    async with client_for(console) as agent:
        await log_in(agent, AGENT)
        page = await agent.get("/staff")
        response = await staff_action(
            agent, user_id=str(admin_id), email="intrus@pau.example", password=NEW_PASSWORD, **fields
        )
    assert page.status_code == 403 and response.status_code == 403
    assert "réservée aux administrateurs" in response.text
    with console.engine.connect() as conn:
        assert conn.execute(select(staff_users).order_by(staff_users.c.id)).all() == before


# --- own password ---------------------------------------------------------------------------------------------


async def test_staff_member_changes_their_password_and_other_sessions_end(console: Console) -> None:
    async with client_for(console) as here, client_for(console) as elsewhere:
        await log_in(here, AGENT)
        await log_in(elsewhere, AGENT)
        form = await here.get("/mot-de-passe")
        fields = {"csrf_token": csrf_of(form.text), "current_password": PASSWORD}
        mismatch = await here.post("/mot-de-passe", data={
            **fields, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD + "!"})  # fmt: skip
        wrong = await here.post("/mot-de-passe", data={
            **fields, "current_password": "pas le bon du tout", "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD})  # fmt: skip
        changed = await here.post("/mot-de-passe", data={
            **fields, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})  # fmt: skip
        after = await here.get(changed.headers["location"])
        other = await elsewhere.get("/conversations")
    assert form.status_code == 200 and "Changer mon mot de passe" in form.text
    assert mismatch.status_code == 400 and "Les deux saisies du nouveau mot de passe diffèrent." in mismatch.text
    assert wrong.status_code == 400 and "Le mot de passe actuel est incorrect." in wrong.text
    assert changed.status_code == 303 and "Mot de passe changé" in after.text
    assert other.status_code == 302  # the other session ended
    async with client_for(console) as again:
        assert (await log_in(again, AGENT, NEW_PASSWORD)).status_code == 303
    assert "password_change" in audit_actions(console.engine)


async def test_password_change_without_the_form_token_is_refused(console: Console) -> None:
    async with client_for(console) as client:
        await log_in(client, AGENT)
        response = await client.post("/mot-de-passe", data={
            "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})  # fmt: skip
    assert response.status_code == 403
    async with client_for(console) as again:
        assert (await log_in(again, AGENT, PASSWORD)).status_code == 303


# --- admin: reset and roles -----------------------------------------------------------------------------------


async def test_admin_resets_a_password_and_the_agent_must_choose_a_new_one(console: Console) -> None:
    async with client_for(console) as agent_before:
        await log_in(agent_before, AGENT)
        async with client_for(console) as admin:
            await log_in(admin, ADMIN)
            reset = await staff_action(admin, action="reset", user_id=str(user_id(console, AGENT)))
            listing = await admin.get("/staff")
        ended = await agent_before.get("/conversations")
    shown = re.search(
        r'Mot de passe temporaire de agent@pau\.example : <strong class="mono">([^<]+)</strong>', reset.text
    )
    assert shown is not None
    temporary = shown.group(1)
    assert reset.status_code == 200 and len(temporary) == 19
    assert temporary not in listing.text and "mot de passe temporaire" in listing.text  # shown once only
    assert ended.status_code == 302
    async with client_for(console) as agent:
        landed = await log_in(agent, AGENT, temporary)
        held = await agent.get("/tickets")
        form = await agent.get("/mot-de-passe")
        changed = await agent.post("/mot-de-passe", data={
            "csrf_token": csrf_of(form.text), "current_password": temporary, "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD})  # fmt: skip
        free = await agent.get("/conversations")
    assert landed.status_code == 303 and landed.headers["location"] == "/mot-de-passe"
    assert held.status_code == 303 and held.headers["location"] == "/mot-de-passe"
    assert "mot de passe temporaire" in form.text and changed.status_code == 303 and free.status_code == 200
    assert {"password_reset", "password_change"} <= set(audit_actions(console.engine))


async def test_admin_changes_a_role_and_cannot_remove_the_last_admin(console: Console) -> None:
    async with client_for(console) as admin:
        await log_in(admin, ADMIN)
        promoted = await staff_action(admin, action="role", user_id=str(user_id(console, AGENT)), role="admin")
        demoted = await staff_action(admin, action="role", user_id=str(user_id(console, AGENT)), role="agent")
        alone = await staff_action(admin, action="role", user_id=str(user_id(console, ADMIN)), role="agent")
        bogus = await staff_action(admin, action="role", user_id=str(user_id(console, AGENT)), role="maire")
        own_reset = await staff_action(admin, action="reset", user_id=str(user_id(console, ADMIN)))
    assert promoted.status_code == 200 and "Rôle de agent@pau.example : administrateur." in html.unescape(promoted.text)
    assert demoted.status_code == 200
    assert alone.status_code == 400 and "au moins un administrateur actif" in alone.text
    assert bogus.status_code == 400 and "Choisissez un rôle" in html.unescape(bogus.text)
    assert own_reset.status_code == 400
    assert audit_actions(console.engine).count("role_change") == 2
    assert [u.role for u in accounts.list_staff_users(console.engine)] == ["admin", "agent"]


async def test_an_admin_who_steps_down_leaves_the_admin_pages(console: Console) -> None:
    async with client_for(console) as admin:
        await log_in(admin, ADMIN)
        await staff_action(admin, action="role", user_id=str(user_id(console, AGENT)), role="admin")
        stepped_down = await staff_action(admin, action="role", user_id=str(user_id(console, ADMIN)), role="agent")
        refused = await admin.get("/staff")
    assert stepped_down.status_code == 303 and stepped_down.headers["location"] == "/conversations"
    assert refused.status_code == 403
