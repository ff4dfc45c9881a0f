"""An Open311 request posted with a typed address and no position is located by the town's address base; the public
JSON publishes its `lat` and `long` rounded, the back office with the key gets them exact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from bot.db import create_engine_for
from bot.settings import ROOT
from bot.town.catalog.addresses import SEED_FILE, read_ban_file
from bot.town.catalog.geocoding import Geocoder
from bot.town.tickets import AsyncTicketStore, TicketStore, create_schema
from tests.unit.town.tickets.test_open311 import API_KEY, sanic_test_mode, serve  # noqa: F401 - a fixture

GEOCODER = Geocoder(read_ban_file(ROOT / "data" / "town" / SEED_FILE))


@pytest.fixture
def tickets(tmp_path: Path) -> TicketStore:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    create_schema(engine)
    return TicketStore(engine)


@pytest_asyncio.fixture
async def api(tickets: TicketStore, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    options = {"settings": {"var_dir": tmp_path}, "geocode": GEOCODER.geocode}
    async for client in serve(AsyncTicketStore(tickets), API_KEY, **options):
        yield client


async def create(api: httpx.AsyncClient, **fields: str) -> str:
    response = await api.post("/requests.json", data={"api_key": API_KEY, "service_code": "voirie", **fields})
    assert response.status_code == 201, response.text
    return str(response.json()[0]["service_request_id"])


async def test_a_typed_address_gets_lat_and_long_rounded_in_public_and_exact_with_the_key(api, tickets):
    ref = await create(api, address_string="40 avenue de Lons", description="nid-de-poule")
    exact = GEOCODER.geocode("40 avenue de Lons")
    assert exact is not None
    stored = tickets.get_ticket(ref)
    assert stored is not None and (stored.lat, stored.long, stored.street) == (exact.lat, exact.lon, "avenue de lons")

    (public,) = (await api.get(f"/requests/{ref}.json")).json()
    assert (public["lat"], public["long"]) == (round(exact.lat, 3), round(exact.lon, 3))
    assert public["address"] == "40 avenue de Lons"
    (keyed,) = (await api.get(f"/requests/{ref}.json", params={"api_key": API_KEY})).json()
    assert (keyed["lat"], keyed["long"]) == (exact.lat, exact.lon)


async def test_given_coordinates_are_kept_and_an_unknown_or_vague_address_stays_unlocated(api, tickets):
    given = await create(api, address_string="40 avenue de Lons", lat="43.3", long="-0.36")
    unknown = await create(api, address_string="derrière le gymnase")
    street_only = await create(api, address_string="avenue de Lons")
    assert [(t.lat, t.long) for t in map(tickets.get_ticket, (given, unknown, street_only))] == [  # type: ignore[union-attr]
        (43.3, -0.36), (None, None), (None, None)
    ]  # fmt: skip


async def test_a_stranger_without_the_key_cannot_post_an_address(api, tickets):
    response = await api.post("/requests.json", data={"service_code": "voirie", "address_string": "40 avenue de Lons"})
    assert response.status_code == 401
    assert (await api.get("/requests.json")).json() == []
