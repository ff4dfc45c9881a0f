"""The action server behind its shared secret: a caller without ACTION_SERVER_TOKEN never reaches an action."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sanic import Sanic, response
from sanic.request import Request

from bot.runtime.actions import main, require_token
from bot.runtime.tokens import ACTION_TOKEN_HEADER
from bot.settings import Settings
from tests.conftest import free_port

pytestmark = pytest.mark.unit


@pytest.fixture
async def action_server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[str, list[str]]]:
    """A Sanic app shaped like rasa-sdk's (/webhook, /actions, /health) behind the secret, on a free port."""
    monkeypatch.setattr(Sanic, "test_mode", True)  # several Sanic apps, one after another, in one test process
    reached: list[str] = []
    app = Sanic("guarded_actions_under_test", configure_logging=False)

    @app.post("/webhook")
    async def webhook(request: Request) -> response.HTTPResponse:
        reached.append("webhook")
        return response.json({"events": [], "responses": []})

    @app.get("/actions")
    async def actions(request: Request) -> response.HTTPResponse:
        reached.append("actions")
        return response.json([{"name": "action_erase_my_data"}])

    @app.get("/health")
    async def health(request: Request) -> response.HTTPResponse:
        return response.json({"status": "ok"})

    require_token(app, "the-shared-secret")
    port = free_port()  # Sanic takes port 0 for its default, 8000
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    yield f"http://127.0.0.1:{port}", reached
    server.close()
    await server.wait_closed()
    Sanic._app_registry.pop("guarded_actions_under_test", None)


STRANGERS = [({}, 401), ({ACTION_TOKEN_HEADER: "guess"}, 403), ({ACTION_TOKEN_HEADER: "the-shared-secreT"}, 403)]


async def test_strangers_are_refused_before_any_action_runs_and_the_rasa_server_is_served(
    action_server: tuple[str, list[str]],
) -> None:
    # One server for every case: Sanic prepares its protocol class once per process.
    url, reached = action_server
    async with httpx.AsyncClient() as client:
        for headers, status in STRANGERS:
            call = await client.post(f"{url}/webhook", json={"next_action": "action_erase_my_data"}, headers=headers)
            listing = await client.get(f"{url}/actions", headers=headers)
            assert (call.status_code, listing.status_code) == (status, status), headers
        assert reached == []
        call = await client.post(f"{url}/webhook", json={}, headers={ACTION_TOKEN_HEADER: "the-shared-secret"})
        health = await client.get(f"{url}/health")
    assert (call.status_code, health.status_code, reached) == (200, 200, ["webhook"])


def test_an_empty_secret_is_refused_at_start() -> None:
    with pytest.raises(ValueError):
        require_token(Sanic("unguarded_actions_under_test", configure_logging=False), "")
    Sanic._app_registry.pop("unguarded_actions_under_test", None)


@pytest.mark.parametrize(("bind", "expected"), [(None, "127.0.0.1"), ("10.0.2.11", "10.0.2.11")])
def test_the_action_server_listens_on_localhost_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bind: str | None, expected: str
) -> None:
    served: list[tuple[str, int, list[Any]]] = []

    def run(app: Sanic, host: str, port: int, **kwargs: Any) -> None:
        served.append((host, port, list(app.request_middleware)))
        Sanic._app_registry.pop(app.name, None)

    monkeypatch.setattr(Sanic, "run", run)
    for name in ("ACTION_SERVER_TOKEN", "ACTION_BIND_HOST", "ACTION_HOST"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(var_dir=tmp_path, action_bind_host=bind, _env_file=None)
    monkeypatch.setattr("bot.settings.get_settings", lambda: settings)
    main(["--actions", "actions", "--port", "5999"])
    [(host, port, middleware)] = served
    assert (host, port) == (expected, 5999) and middleware  # behind the secret
    assert (tmp_path / "action_server_token").exists()  # generated, since ACTION_SERVER_TOKEN is unset
