"""Open311 GeoReport v2 API of the console, exercised over real HTTP on a local port."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from sanic import Sanic

from bot.console.app import create_app
from bot.db import create_engine_for
from bot.settings import Settings
from bot.town.notify import FakeNotifier
from bot.town.tickets import (
    PROBLEM_TYPES,
    AsyncTicketStore,
    OutboxStore,
    OutboxWorker,
    TicketDraft,
    TicketStore,
    create_schema,
)

API_KEY = "cle-de-test-open311"
_app_names = itertools.count()


class FakeClock:
    """A clock tests move by hand (starts now, so the API's default 90-day window applies)."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now


async def serve(
    store: AsyncTicketStore | None, api_key: str | None, **options: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """Run the console app on a free local port and yield a client for it."""
    settings = Settings(_env_file=None, open311_api_key=api_key, **options.pop("settings", {}))
    app = create_app(settings, store=store, name=f"open311_test_{next(_app_names)}", **options)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/open311/v2", timeout=10) as client:
            yield client
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()
        sock.close()


@pytest.fixture(autouse=True)
def sanic_test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    # Sanic rewrites its own HTTP methods at each app start; test mode keeps the originals so that
    # several apps can start, one after another, in one process.
    monkeypatch.setattr(Sanic, "test_mode", True)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tickets(tmp_path: Path, clock: FakeClock) -> TicketStore:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    create_schema(engine)
    return TicketStore(engine, clock=clock)


@pytest_asyncio.fixture
async def api(tickets: TicketStore) -> AsyncIterator[httpx.AsyncClient]:
    async for client in serve(AsyncTicketStore(tickets), API_KEY):
        yield client


def citizen_ticket(tickets: TicketStore, **values: object) -> str:
    draft = {
        "service_code": "voirie",
        "description": "Nid-de-poule dangereux",
        "address": "Rue Carnot",
        "channel": "sms",
        "sender_id": "+33536490011",
        "contact": "citoyen@example.org",
    }
    draft.update(values)
    return tickets.create_ticket(TicketDraft(**draft)).ref  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_services_list_every_category_with_its_french_name(api: httpx.AsyncClient) -> None:
    response = await api.get("/services.json")

    assert response.status_code == 200
    services = {s["service_code"]: s for s in response.json()}
    assert set(services) == set(PROBLEM_TYPES)
    assert services["voirie"]["service_name"] == "Voirie (nids-de-poule, chaussée, trottoirs)"
    assert services["voirie"]["metadata"] is False and services["voirie"]["type"] == "realtime"


@pytest.mark.asyncio
async def test_service_definition_has_no_extra_attributes(api: httpx.AsyncClient) -> None:
    response = await api.get("/services/eclairage_public.json")
    assert (response.status_code, response.json()) == (200, {"service_code": "eclairage_public", "attributes": []})


@pytest.mark.parametrize("path", ["/services/licorne.json", "/services/voirie.xml", "/requests/PAU-2026-999999.json"])
@pytest.mark.asyncio
async def test_unknown_service_or_request_is_an_open311_404(api: httpx.AsyncClient, path: str) -> None:
    response = await api.get(path)
    assert response.status_code == 404
    [error] = response.json()
    assert error["code"] == 404 and error["description"]


@pytest.mark.asyncio
async def test_back_office_files_a_request_then_reads_it_back(api: httpx.AsyncClient) -> None:
    form = {
        "api_key": API_KEY,
        "service_code": "graffiti",
        "lat": "43.2951",
        "long": "-0.3708",
        "address_string": "Rue des Cordeliers",
        "description": "Tag sur la façade",
        "email": "agent@example.org",
    }
    created = await api.post("/requests.json", data=form)

    assert created.status_code == 201
    [receipt] = created.json()
    ref = receipt["service_request_id"]
    assert ref.startswith("PAU-") and ref in receipt["service_notice"]

    shown = await api.get(f"/requests/{ref}.json", params={"api_key": API_KEY})  # with its key: the exact position
    [request] = shown.json()
    assert (request["service_code"], request["status"], request["address"]) == (
        "graffiti",
        "open",
        "Rue des Cordeliers",
    )
    assert (request["description"], request["lat"], request["long"]) == ("Tag sur la façade", 43.2951, -0.3708)
    assert "agent@example.org" not in shown.text


@pytest.mark.asyncio
async def test_request_can_be_filed_as_json(api: httpx.AsyncClient) -> None:
    body = {"api_key": API_KEY, "service_code": "proprete", "address_string": "Place Clemenceau"}
    response = await api.post("/requests.json", json=body)
    assert response.status_code == 201
    year = datetime.now(ZoneInfo("Europe/Paris")).year
    assert response.json()[0]["service_request_id"] == f"PAU-{year}-000001"


@pytest.mark.asyncio
async def test_retried_post_with_the_same_idempotency_key_files_one_request(api: httpx.AsyncClient) -> None:
    form = {"api_key": API_KEY, "service_code": "voirie", "address_string": "Rue Tran"}
    first = await api.post("/requests.json", data=form, headers={"Idempotency-Key": "bo-42"})
    again = await api.post("/requests.json", data=form, headers={"Idempotency-Key": "bo-42"})
    assert first.json()[0]["service_request_id"] == again.json()[0]["service_request_id"]
    assert len((await api.get("/requests.json")).json()) == 1


@pytest.mark.parametrize(
    ("api_key", "status"),
    [(None, 401), ("", 401), ("mauvaise-cle", 403), (API_KEY[:-1], 403), (API_KEY + "x", 403)],
)
@pytest.mark.asyncio
async def test_post_without_the_right_api_key_is_refused(
    api: httpx.AsyncClient, api_key: str | None, status: int
) -> None:
    form = {"service_code": "voirie", "address_string": "Rue Tran"}
    if api_key is not None:
        form["api_key"] = api_key
    response = await api.post("/requests.json", data=form)
    assert response.status_code == status
    assert response.json()[0]["code"] == status
    assert (await api.get("/requests.json")).json() == []


@pytest.mark.asyncio
async def test_post_is_refused_when_no_api_key_is_configured(tickets: TicketStore) -> None:
    async for client in serve(AsyncTicketStore(tickets), None):
        response = await client.post("/requests.json", data={"api_key": "anything", "service_code": "voirie"})
        assert response.status_code == 403


@pytest.mark.parametrize(
    ("form", "mentions"),
    [
        ({"address_string": "Rue Tran"}, "service_code"),
        ({"service_code": "licorne", "address_string": "Rue Tran"}, "service_code"),
        ({"service_code": "voirie"}, "Localisation"),
        ({"service_code": "voirie", "description": "sans lieu"}, "Localisation"),
        ({"service_code": "voirie", "lat": "43.3"}, "lat"),
        ({"service_code": "voirie", "lat": "nord", "long": "-0.37"}, "lat"),
        ({"service_code": "voirie", "lat": "95", "long": "-0.37"}, "lat"),
        ({"service_code": "voirie", "address_string": "Rue Tran", "media_url": "javascript:alert(1)"}, "media_url"),
        ({"service_code": "voirie", "address_string": "Rue Tran", "description": "x" * 4001}, "description"),
    ],
)
@pytest.mark.asyncio
async def test_invalid_request_gets_an_open311_400(api: httpx.AsyncClient, form: dict, mentions: str) -> None:
    response = await api.post("/requests.json", data={"api_key": API_KEY, **form})
    assert response.status_code == 400
    [error] = response.json()
    assert error["code"] == 400 and mentions in error["description"]


@pytest.mark.asyncio
async def test_malformed_json_body_gets_a_400(api: httpx.AsyncClient) -> None:
    response = await api.post("/requests.json", content=b"{pas du json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()[0]["code"] == 400


@pytest.mark.asyncio
async def test_request_list_is_filtered_by_id_category_status_and_dates(
    api: httpx.AsyncClient, tickets: TicketStore, clock: FakeClock
) -> None:
    now = clock.now
    clock.now = now - timedelta(days=120)
    ancient = citizen_ticket(tickets)
    clock.now = now - timedelta(days=10)
    pothole = citizen_ticket(tickets)
    clock.now = now - timedelta(days=5)
    lamp = citizen_ticket(tickets, service_code="eclairage_public")
    tickets.set_status(lamp, "traite", "Ampoule changée", "agent")
    clock.now = now

    async def refs(**params: str) -> list[str]:
        response = await api.get("/requests.json", params=params)
        assert response.status_code == 200, response.text
        return [r["service_request_id"] for r in response.json()]

    assert await refs() == [lamp, pothole]  # the last 90 days by default
    assert await refs(service_request_id=f"{ancient},{lamp}", status="open") == [lamp, ancient]
    assert await refs(service_code="voirie") == [pothole]
    assert await refs(status="closed") == [lamp]
    assert await refs(status="open,closed", service_code="voirie,eclairage_public") == [lamp, pothole]
    since = (now - timedelta(days=7)).isoformat()
    assert await refs(start_date=since) == [lamp]
    window = {
        "start_date": (now - timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_date": (now - timedelta(days=8)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert await refs(**window) == [pothole, ancient]


@pytest.mark.parametrize(
    "params",
    [
        {"status": "fini"},
        {"start_date": "hier"},
        {"end_date": "2026-13-45"},
        {"start_date": "2026-05-02", "end_date": "2026-05-01"},
    ],
)
@pytest.mark.asyncio
async def test_invalid_filter_gets_an_open311_400(api: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await api.get("/requests.json", params=params)
    assert response.status_code == 400
    assert response.json()[0]["code"] == 400


@pytest.mark.asyncio
async def test_responses_never_expose_the_contact_or_the_sender(api: httpx.AsyncClient, tickets: TicketStore) -> None:
    ref = citizen_ticket(tickets)
    listed = await api.get("/requests.json")
    shown = await api.get(f"/requests/{ref}.json")

    for response in (listed, shown):
        assert response.status_code == 200
        assert "citoyen@example.org" not in response.text and "+33536490011" not in response.text
        assert not {"contact", "sender_id", "channel", "idempotency_key"} & set(response.json()[0])


@pytest.mark.asyncio
async def test_rejected_request_shows_its_reason_as_status_notes(api: httpx.AsyncClient, tickets: TicketStore) -> None:
    ref = citizen_ticket(tickets)
    tickets.set_status(ref, "non_retenu", None, "agent", reason="Voie privée : hors compétence communale")

    [request] = (await api.get(f"/requests/{ref}.json")).json()

    assert (request["status"], request["status_notes"]) == ("closed", "Voie privée : hors compétence communale")


@pytest.mark.asyncio
async def test_console_pushes_status_changes_while_it_runs(tickets: TicketStore) -> None:
    notifier = FakeNotifier()
    worker = OutboxWorker(OutboxStore(tickets.engine), notifier)
    ref = citizen_ticket(tickets)

    async for _client in serve(AsyncTicketStore(tickets), API_KEY, outbox_worker=worker):
        await AsyncTicketStore(tickets).set_status(ref, "pris_en_charge", "Équipe prévenue", "agent:marie")
        for _ in range(300):
            if notifier.sent:
                break
            await asyncio.sleep(0.01)

    [job] = notifier.sent
    assert (job.channel, job.recipient, job.payload["ticket_state"]) == ("sms", "+33536490011", "pris_en_charge")


@pytest.mark.asyncio
async def test_console_started_from_settings_creates_its_tables_and_serves_the_api(tmp_path: Path) -> None:
    database = {"database_url": f"sqlite:///{tmp_path / 'fresh.db'}", "var_dir": tmp_path}

    async for client in serve(None, API_KEY, settings=database):
        form = {"api_key": API_KEY, "service_code": "bruit", "address_string": "Place de Verdun"}
        created = await client.post("/requests.json", data=form)
        assert created.status_code == 201
        ref = created.json()[0]["service_request_id"]
        assert (await client.get(f"/requests/{ref}.json")).json()[0]["service_code"] == "bruit"
