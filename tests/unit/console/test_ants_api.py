"""The national portal's editor API under /api/ants/: only the portal's token opens it, and it answers the portal's
fields — meeting points with coordinates, free slots per meeting point, appointments per pre-application number."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

import httpx
import pytest
from sanic import Sanic

from bot.console.ants import AUTH_HEADER, create_ants_blueprint
from bot.db import create_engine_for
from bot.settings import ROOT
from bot.town.appointments import AppointmentStore
from bot.town.catalog import load_catalog
from bot.town.catalog.hours import PARIS
from tests.conftest import free_port
from tests.unit.console.test_console_pages import stop

TOKEN = "s3cret-token-given-to-the-portal"
NOW = datetime(2027, 1, 4, 8, 0, tzinfo=PARIS)  # Monday
TUESDAY = date(2027, 1, 5)
CATALOG = load_catalog(ROOT / "data" / "town")
PUBLIC = "https://guichet.pau.example"


@dataclass
class Api:
    url: str
    store: AppointmentStore
    passports: int


async def serve(tmp_path: Path, token: str | None) -> AsyncIterator[Api]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    store = AppointmentStore(engine)
    store.create_schema()
    known = set(CATALOG.services)
    passports = store.open("etat_civil", "passeport", TUESDAY, date(2027, 6, 30), (1,), 540, 600, 20, 1,
                           known_services=known, actor="test", now=NOW).calendar_id  # fmt: skip
    store.open("etat_civil", "carte_identite", TUESDAY, date(2027, 6, 30), (3,), 540, 600, 30, 1,
               known_services=known, actor="test", now=NOW)  # fmt: skip
    store.open("urbanisme", "urbanisme", TUESDAY, date(2027, 6, 30), (1,), 540, 600, 30, 1,
               known_services=known, actor="test", now=NOW)  # fmt: skip
    app = Sanic(f"ants_{uuid.uuid4().hex[:8]}", configure_logging=False)
    app.config.KEEP_ALIVE = False
    app.blueprint(create_ants_blueprint(store, lambda: CATALOG, token=token, public_url=PUBLIC, clock=lambda: NOW))
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    assert server is not None
    await server.startup()
    await server.start_serving()
    try:
        yield Api(f"http://127.0.0.1:{port}", store, passports)
    finally:
        await stop(server)
        engine.dispose()


@pytest.fixture(autouse=True)
def test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Sanic, "test_mode", True)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async for running in serve(tmp_path, TOKEN):
        yield running


async def get(api: Api, path: str, params: dict | list | None = None, token: str | None = TOKEN) -> httpx.Response:
    headers = {AUTH_HEADER: token} if token is not None else {}
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
        return await client.get(f"/api/ants/{path}", params=params, headers=headers)


SLOTS = [("meeting_point_ids", "etat_civil"), ("start_date", "2027-01-04"), ("end_date", "2027-01-10"),
         ("reason", "PASSPORT")]  # fmt: skip
CALLS = [("getManagedMeetingPoints", None), ("availableTimeSlots", SLOTS),
         ("searchApplicationIds", [("application_ids", "AB12CD34EF")])]  # fmt: skip


@pytest.mark.parametrize(("path", "params"), CALLS)
@pytest.mark.parametrize("token", [None, "", "wrong-token", TOKEN + "x", TOKEN[:-1]])
async def test_a_stranger_is_refused(api: Api, path: str, params: list | None, token: str | None) -> None:
    response = await get(api, path, params, token=token)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "X-HUB-RDV-AUTH-TOKEN header missing or invalid"
    assert "etat_civil" not in response.text


@pytest.mark.parametrize(("path", "params"), CALLS)
async def test_without_a_configured_token_every_call_is_refused(tmp_path: Path, path: str, params: list | None) -> None:
    async for api in serve(tmp_path, None):
        assert (await get(api, path, params, token="")).status_code == 401
        assert (await get(api, path, params, token="None")).status_code == 401


async def test_meeting_points_are_the_services_with_a_passport_or_id_card_calendar(api: Api) -> None:
    response = await get(api, "getManagedMeetingPoints")
    assert response.status_code == 200
    service = CATALOG.service("etat_civil")
    assert response.json() == [{
        "id": "etat_civil", "name": service.name, "longitude": service.lon, "latitude": service.lat,
        "public_entry_address": service.address.street, "zip_code": service.address.postcode,
        "city_name": service.address.city, "website": f"{PUBLIC}/rdv",
    }]  # fmt: skip  # urbanisme has a calendar, but not for the portal


async def test_available_slots_are_the_free_ones_for_the_reason(api: Api) -> None:
    api.store.book(api.passports, datetime.combine(TUESDAY, time(9, 20), tzinfo=PARIS), application_id="AB12CD34EF",
                   channel="sms", sender_id="sms:p-1", closures=(), now=NOW)  # fmt: skip
    response = await get(api, "availableTimeSlots", SLOTS)
    assert response.status_code == 200
    slots = response.json()
    assert list(slots) == ["etat_civil"]
    assert [s["datetime"] for s in slots["etat_civil"]] == ["2027-01-05T09:00Z", "2027-01-05T09:40Z"]
    callback = slots["etat_civil"][0]["callback_url"]
    assert callback.startswith(f"{PUBLIC}/rdv/nouveau?calendrier={api.passports}&debut=2027-01-05T09%3A00%2B01%3A00")

    identity = await get(api, "availableTimeSlots", [*SLOTS[:3], ("reason", "CNI")])
    assert [s["datetime"] for s in identity.json()["etat_civil"]] == ["2027-01-07T09:00Z", "2027-01-07T09:30Z"]
    both = await get(api, "availableTimeSlots", [*SLOTS[:3], ("reason", "CNI-PASSPORT")])
    assert both.json() == {}
    elsewhere = await get(api, "availableTimeSlots", [("meeting_point_ids", "piscine"), *SLOTS[1:]])
    assert elsewhere.json() == {}


async def test_several_documents_need_consecutive_free_slots(api: Api) -> None:
    two = await get(api, "availableTimeSlots", [*SLOTS, ("documents_number", "2")])
    assert [s["datetime"] for s in two.json()["etat_civil"]] == ["2027-01-05T09:00Z", "2027-01-05T09:20Z"]
    api.store.book(api.passports, datetime.combine(TUESDAY, time(9, 20), tzinfo=PARIS), application_id=None,
                   channel="sms", sender_id="sms:p-1", closures=(), now=NOW)  # fmt: skip
    after = await get(api, "availableTimeSlots", [*SLOTS, ("documents_number", "2")])
    assert after.json()["etat_civil"] == []


@pytest.mark.parametrize(
    "params",
    [
        [("start_date", "2027-01-04"), ("end_date", "2027-01-10")],
        [("meeting_point_ids", "etat_civil"), ("start_date", "2027-01-10"), ("end_date", "2027-01-04")],
        [("meeting_point_ids", "etat_civil"), ("start_date", "2027-01-04"), ("end_date", "2027-06-30")],
        [("meeting_point_ids", "etat_civil"), ("start_date", "04/01/2027"), ("end_date", "2027-01-10")],
        [*SLOTS[:3], ("reason", "PERMIS")],
        [*SLOTS, ("documents_number", "0")],
        [*SLOTS, ("documents_number", "beaucoup")],
    ],
)
async def test_bad_queries_get_a_400(api: Api, params: list) -> None:
    response = await get(api, "availableTimeSlots", params)
    assert response.status_code == 400 and response.json()["error"]["code"] == 400


async def test_application_ids_find_their_future_appointments(api: Api) -> None:
    booking = api.store.book(api.passports, datetime.combine(TUESDAY, time(9), tzinfo=PARIS),
                             application_id="AB12CD34EF", channel="webchat", sender_id="webchat:1", closures=(),
                             now=NOW)  # fmt: skip
    response = await get(api, "searchApplicationIds", [("application_ids", "ab12cd34ef"),
                                                       ("application_ids", "ZZ99ZZ99ZZ")])  # fmt: skip
    assert response.status_code == 200
    page = f"{PUBLIC}/rdv/{booking.reference}"
    assert response.json() == {
        "AB12CD34EF": [{"meeting_point": CATALOG.service("etat_civil").name, "datetime": "2027-01-05T09:00Z",
                        "management_url": page, "cancel_url": page}],
        "ZZ99ZZ99ZZ": [],
    }  # fmt: skip
    together = await get(api, "searchApplicationIds", [("application_ids", "AB12CD34EF;ZZ99ZZ99ZZ")])
    assert together.json() == response.json()  # several numbers in one value, as the portal allows
    refused = await get(api, "searchApplicationIds", [("application_ids", "12345")])
    assert refused.status_code == 400


async def test_the_console_serves_the_portal_with_the_settings_token(tmp_path: Path) -> None:
    from bot.console.app import create_app
    from bot.settings import Settings
    from bot.town.tickets import AsyncTicketStore, TicketStore, create_schema

    settings = Settings(_env_file=None, var_dir=tmp_path, ants_auth_token=TOKEN, public_url=PUBLIC)
    engine = create_engine_for(settings.effective_database_url)
    create_schema(engine)
    app = create_app(settings, store=AsyncTicketStore(TicketStore(engine)), name=f"ants_app_{uuid.uuid4().hex[:8]}")
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    assert server is not None
    await server.startup()
    await server.before_start()  # creates the appointment and catalog tables
    await server.start_serving()
    try:
        store = AppointmentStore(engine)
        store.open("etat_civil", "carte_identite", TUESDAY, date(2027, 1, 31), (1,), 540, 600, 20, 1,
                   known_services=set(CATALOG.services), actor="test", now=NOW)  # fmt: skip
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            stranger = await client.get("/api/ants/getManagedMeetingPoints")
            portal = await client.get("/api/ants/getManagedMeetingPoints", headers={AUTH_HEADER: TOKEN})
        assert stranger.status_code == 401
        assert portal.status_code == 200 and [p["id"] for p in portal.json()] == ["etat_civil"]
        assert portal.json()[0]["latitude"] == CATALOG.service("etat_civil").lat  # from the seeded live catalog
    finally:
        await stop(server)
        engine.dispose()
