"""The demo town page and the web chat widget, served by the console: they name the town and the retention period
of the settings, never a copy of the sample town's."""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sanic import Sanic

from bot.console.app import create_app
from bot.db import create_engine_for
from bot.settings import Settings
from bot.town.tickets import AsyncTicketStore, TicketStore, create_schema

COPIES = re.compile(r"\bPau\b|\b180\b")


@pytest.fixture(autouse=True)
def sanic_test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Sanic, "test_mode", True)  # several apps, one after another, in one process


async def serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The console app of `settings` on a free local port."""
    engine = create_engine_for(settings.effective_database_url)
    create_schema(engine)
    app = create_app(settings, store=AsyncTicketStore(TicketStore(engine)), name=f"demo_{uuid.uuid4().hex[:8]}")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=10) as client:
            yield client
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()
        sock.close()
        engine.dispose()


@pytest.fixture
async def lescar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("TOWN_NAME", "Lescar")
    monkeypatch.setenv("RETENTION_DAYS", "90")
    async for client in serve(Settings(_env_file=None, var_dir=tmp_path)):
        yield client


async def test_the_demo_page_names_the_town_and_its_retention_period(lescar: httpx.AsyncClient) -> None:
    page = (await lescar.get("/")).text
    assert "<title>Ville de Lescar — démonstration</title>" in page
    assert "<h1>Ville de Lescar — démonstration</h1>" in page
    assert "conservée 90 jours" in page
    assert 'data-retention-days="90"' in page  # what the widget's privacy notice says
    assert not COPIES.search(page)


async def test_the_widget_copies_no_retention_period(lescar: httpx.AsyncClient) -> None:
    widget = (await lescar.get("/widget/guichet-widget.js")).text
    assert 'getAttribute("data-retention-days")' in widget
    assert "pour une durée limitée" in widget  # said when a page gives no data-retention-days
    assert not COPIES.search(widget)


async def test_the_sample_town_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOWN_NAME", raising=False)
    monkeypatch.delenv("RETENTION_DAYS", raising=False)
    async for client in serve(Settings(_env_file=None, var_dir=tmp_path)):
        page = (await client.get("/")).text
        assert "Ville de Pau — démonstration" in page and 'data-retention-days="180"' in page


async def test_the_demo_page_elides_before_a_town_that_starts_with_a_vowel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOWN_NAME", "Orthez")
    async for client in serve(Settings(_env_file=None, var_dir=tmp_path)):
        page = (await client.get("/")).text
    assert "<h1>Ville d&#39;Orthez — démonstration</h1>" in page and "de Orthez" not in page
