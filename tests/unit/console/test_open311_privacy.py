"""What the public Open311 API publishes of a citizen's report: no phone or e-mail, a rounded position, no photo."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import update

from bot.db import create_engine_for
from bot.settings import Settings
from bot.town.media import MediaStore, media_signer
from bot.town.tickets import AsyncTicketStore, TicketDraft, TicketStore, create_schema
from bot.town.tickets.schema import tickets as tickets_table
from tests.photos import image_bytes
from tests.unit.town.tickets.test_open311 import API_KEY, sanic_test_mode, serve  # noqa: F401 - a fixture

DESCRIPTION = "Trottoir défoncé devant chez moi, rappelez-moi au 06 12 34 56 78 ou à jeanne.martin@example.org"
RAW = ("06 12 34 56 78", "0612345678", "612345678", "jeanne.martin", "example.org")


@pytest.fixture
def settings(tmp_path: Path) -> dict[str, object]:
    return {"var_dir": tmp_path}


@pytest.fixture
def tickets(tmp_path: Path) -> TicketStore:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    create_schema(engine)
    return TicketStore(engine, media=MediaStore(tmp_path / "media"))  # the MEDIA_DIR of `settings`


@pytest_asyncio.fixture
async def api(tickets: TicketStore, settings: dict[str, object]) -> AsyncIterator[httpx.AsyncClient]:
    async for client in serve(AsyncTicketStore(tickets), API_KEY, settings=settings):
        yield client


async def post(api: httpx.AsyncClient, **fields: str) -> httpx.Response:
    form = {"api_key": API_KEY, "service_code": "voirie", "lat": "43.2961234", "long": "-0.3704567", **fields}
    return await api.post("/requests.json", data=form)


async def test_a_phone_number_and_an_email_in_a_description_are_never_stored_nor_published(
    api: httpx.AsyncClient, tickets: TicketStore
) -> None:
    created = await post(api, description=DESCRIPTION)
    ref = created.json()[0]["service_request_id"]

    stored = tickets.get_ticket(ref)
    listed = await api.get("/requests.json")
    shown = await api.get(f"/requests/{ref}.json")

    assert created.status_code == 201 and stored is not None
    assert not any(raw in stored.description for raw in RAW)
    assert "[téléphone masqué]" in stored.description and "[e-mail masqué]" in stored.description
    assert stored.contact == "+33612345678"  # kept only as the ticket's contact, for the town to call back
    for response in (listed, shown):
        assert response.status_code == 200
        assert not any(raw in response.text for raw in RAW)
        [request] = response.json()
        assert request["description"] == stored.description
        assert (request["lat"], request["long"]) == (43.296, -0.37)  # about 110 m by 80 m
        assert request["media_url"] is None


async def test_a_contact_given_in_its_own_field_stays_the_contact(api: httpx.AsyncClient, tickets: TicketStore) -> None:
    created = await post(api, description=DESCRIPTION, email="agent.voirie@example.org")

    stored = tickets.get_ticket(created.json()[0]["service_request_id"])

    assert stored is not None and stored.contact == "agent.voirie@example.org"
    assert not any(raw in stored.description for raw in RAW)


async def test_a_description_stored_raw_before_masking_existed_is_published_masked(
    api: httpx.AsyncClient, tickets: TicketStore
) -> None:
    ref = tickets.create_ticket(TicketDraft("voirie", "trou", "Rue Carnot")).ref
    with tickets.engine.begin() as conn:  # a row written by an older version, before masking at intake
        conn.execute(
            update(tickets_table).where(tickets_table.c.service_request_id == ref).values(description=DESCRIPTION)
        )

    shown = await api.get(f"/requests/{ref}.json")

    assert not any(raw in shown.text for raw in RAW)


async def test_a_photo_of_another_host_is_refused_with_a_clear_error(api: httpx.AsyncClient) -> None:
    refused = await post(api, description="Trou", media_url="https://images.example.com/trou.jpg")

    assert refused.status_code == 400
    assert "photo déposée sur le guichet" in refused.json()[0]["description"]


async def test_the_back_office_key_gets_the_exact_position_and_a_signed_photo_url_that_expires(
    api: httpx.AsyncClient, tickets: TicketStore, settings: dict[str, object]
) -> None:
    assert tickets.media is not None
    name = tickets.media.save(image_bytes("JPEG"))
    created = await post(api, description="Trou", media_url=f"https://guichet.pau.fr/webhooks/webchat/upload/{name}")
    ref = created.json()[0]["service_request_id"]

    [public] = (await api.get(f"/requests/{ref}.json")).json()
    [keyed] = (await api.get(f"/requests/{ref}.json", params={"api_key": API_KEY})).json()
    [wrong_key] = (await api.get(f"/requests/{ref}.json", params={"api_key": "devine"})).json()
    async with httpx.AsyncClient() as http:
        photo = await http.get(keyed["media_url"])
        signer = media_signer(Settings(_env_file=None, **settings))
        signer.clock = lambda: time.time() - 7200  # a URL handed out two hours ago, valid one hour
        expired = await http.get(signer.url(keyed["media_url"].split("/media/")[0] + "/media", name))

    assert created.status_code == 201 and tickets.get_ticket(ref).media_url == f"media:{name}"  # type: ignore[union-attr]
    assert public["media_url"] is None and wrong_key["media_url"] is None
    assert (keyed["lat"], keyed["long"]) == (43.2961234, -0.3704567)
    assert f"/media/{name}?expires=" in keyed["media_url"]
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert expired.status_code == 403


async def test_a_telegram_photo_not_yet_downloaded_is_never_published_and_the_priority_always_is(
    api: httpx.AsyncClient, tickets: TicketStore
) -> None:
    draft = TicketDraft("voirie", "odeur de gaz", "Rue Carnot", media_url="telegram-file:AgACAgQAAxkB",
                        channel="telegram", sender_id="telegram:1")  # fmt: skip
    ref = tickets.create_ticket(draft).ref

    [public] = (await api.get(f"/requests/{ref}.json")).json()
    [keyed] = (await api.get(f"/requests/{ref}.json", params={"api_key": API_KEY})).json()
    listed = (await api.get("/requests.json", params={"api_key": API_KEY})).json()

    assert public["media_url"] is None and keyed["media_url"] is None  # a file id is no URL: nothing is published
    assert "telegram-file" not in str(listed) and "AgACAgQAAxkB" not in str(listed)
    assert public["extended_attributes"] == keyed["extended_attributes"] == {"priority": "urgent"}
