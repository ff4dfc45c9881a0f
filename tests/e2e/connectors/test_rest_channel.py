"""The REST channel's door on a real Sanic server: who may call it, and under which identity it stores them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from connectors.rest import RestHandler, RestInput
from connectors.shared.guard import Guard, SlidingWindowRateLimiter
from connectors.shared.notices import Notices
from connectors.shared.offers import MemoryOfferStore
from tests.conftest import free_port

TOKEN = "rest-e2e-token"


@pytest.fixture(autouse=True)
def several_sanic_apps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sanic 21.12 can start a second app in one process only in test mode."""
    monkeypatch.setattr(Sanic, "test_mode", True)


@asynccontextmanager
async def rest_server(handled: list[UserMessage], token: str | None = None) -> AsyncIterator[str]:
    """The REST channel on 127.0.0.1 on a free port, its assistant recording what it is handed; yields the URL."""

    async def assistant(message: UserMessage) -> None:
        handled.append(message)
        await message.output_channel.send_text_message(message.sender_id, "Bonjour")

    guard = Guard(MemoryOfferStore(), SlidingWindowRateLimiter(100), 2000)
    handler = RestHandler(guard, Notices(), 64 * 1024, token)
    app = Sanic(f"rest_e2e_{uuid.uuid4().hex[:8]}", configure_logging=False)
    app.blueprint(RestInput(handler=handler).blueprint(assistant), url_prefix="/webhooks/rest")
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    assert server is not None
    await server.startup()
    try:
        yield f"http://127.0.0.1:{port}/webhooks/rest/webhook"
    finally:
        server.close()
        await server.wait_closed()


async def post(url: str, sender: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(url, json={"sender": sender, "message": "bonjour"}, headers=headers or {})


@pytest.mark.parametrize("sender", ["telegram:99", "sms:4f2a9c0d1e2b3a4c5d6e", "webchat:" + "a" * 32, "voice:+3361"])
async def test_a_sender_of_another_channel_is_refused_before_the_assistant(sender: str) -> None:
    handled: list[UserMessage] = []
    async with rest_server(handled) as url:
        response = await post(url, sender)
    assert response.status_code == 403
    assert handled == []


async def test_a_rest_conversation_is_stored_under_rest_and_answered_under_the_name_sent() -> None:
    handled: list[UserMessage] = []
    async with rest_server(handled) as url:
        response = await post(url, "script-7")
    assert response.status_code == 200
    assert [m.sender_id for m in handled] == ["rest:script-7"]
    assert response.json() == [{"recipient_id": "script-7", "text": "Bonjour"}]


async def test_a_request_through_a_proxy_on_the_same_host_needs_the_rest_token() -> None:
    handled: list[UserMessage] = []
    proxied = {"X-Forwarded-For": "203.0.113.7"}
    async with rest_server(handled) as url:
        unset = await post(url, "citoyen", proxied)
    async with rest_server(handled, TOKEN) as url:
        without = await post(url, "citoyen", proxied)
        wrong = await post(url, "citoyen", {**proxied, "Authorization": "Bearer wrong"})
        right = await post(url, "citoyen", {**proxied, "Authorization": f"Bearer {TOKEN}"})
        local = await post(url, "citoyen")  # scripts and `make bench` on this machine, as before
    assert (unset.status_code, without.status_code, wrong.status_code) == (403, 401, 401)
    assert (right.status_code, local.status_code) == (200, 200)
    assert len(handled) == 2
