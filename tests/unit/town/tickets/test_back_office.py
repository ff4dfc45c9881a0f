"""Forwarding to a standard Open311 back office: its key sent, the photo as a signed URL, its id kept, its status
changes read back and passed on to the citizen like a staff change; a back office that is down loses nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy.engine import Engine

from bot.town.media import MediaSigner, MediaStore
from bot.town.notify import KindRouter, NotificationError
from bot.town.tickets import Backoff, OutboxStore, OutboxWorker, TicketDraft, TicketStore
from bot.town.tickets.forward import BACK_OFFICE_ACTOR, Open311Forwarder, Open311StatusPoller
from bot.town.tickets.outbox import FORWARD_KIND, NOTIFY_KIND
from tests.photos import image_bytes
from tests.unit.town.tickets.conftest import START, MovableClock

KEY = "bo-secret-key"
BO = "http://bo.example/open311/v2"
SENDER = "sms:p-42"


class BackOffice:
    """A standard GeoReport v2 back office: refuses a POST without its key, answers GET by id, knows tokens."""

    def __init__(self, *, answer_tokens: bool = False) -> None:
        self.requests: dict[str, dict[str, str]] = {}
        self.forms: list[dict[str, list[str]]] = []
        self.gets: list[str] = []
        self.answer_tokens = answer_tokens
        self.down = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return httpx.Response(503, text="maintenance")
        path = urlsplit(str(request.url)).path
        if request.method == "POST" and path == "/open311/v2/requests.json":
            form = parse_qs(request.content.decode())
            self.forms.append(form)
            if form.get("api_key") != [KEY]:
                return httpx.Response(403, json=[{"code": 403, "description": "Invalid api_key"}])
            number = f"BO-{len(self.forms)}"
            self.requests[number] = {"status": "open", "status_notes": ""}
            if self.answer_tokens:
                return httpx.Response(201, json=[{"token": f"tok-{number}"}])
            return httpx.Response(201, json=[{"service_request_id": number}])
        self.gets.append(str(request.url))
        if parse_qs(urlsplit(str(request.url)).query).get("api_key") != [KEY]:
            return httpx.Response(403, json=[{"code": 403, "description": "Invalid api_key"}])
        if path.startswith("/open311/v2/tokens/"):
            number = path.rsplit("/", 1)[1].removesuffix(".json").removeprefix("tok-")
            return httpx.Response(200, json=[{"service_request_id": number, "token": f"tok-{number}"}])
        if path == "/open311/v2/requests.json":
            ids = parse_qs(urlsplit(str(request.url)).query)["service_request_id"][0].split(",")
            return httpx.Response(
                200, json=[{"service_request_id": i, **self.requests[i]} for i in ids if i in self.requests]
            )
        return httpx.Response(404)


def store_of(engine: Engine, clock: MovableClock, media: MediaStore) -> TicketStore:
    return TicketStore(engine, clock=clock, media=media, forward_new_tickets=True)


def report(store: TicketStore, media: MediaStore) -> str:
    photo = media.save(image_bytes("JPEG"))
    draft = TicketDraft("voirie", "nid de poule", "Rue Carnot", lat=43.2951, long=-0.3708, media_url=f"media:{photo}",
                        channel="sms", sender_id=SENDER, contact="+33612345678")  # fmt: skip
    return store.create_ticket(draft).ref


def forwarding_worker(engine, store, client, clock, signer: MediaSigner) -> OutboxWorker:
    def photo_url(name: str) -> str:
        return signer.url("https://console.pau.example/media", name)

    forwarder = Open311Forwarder(BO, api_key=KEY, client=client, tickets=store, photo_url=photo_url)
    router = KindRouter({FORWARD_KIND: forwarder})
    return OutboxWorker(OutboxStore(engine), router, clock=clock, backoff=Backoff(base_seconds=60, max_attempts=3))


@dataclass
class Forwarding:
    """A ticket with a photo, the back office it goes to, and the worker that forwards it."""

    store: TicketStore
    ref: str
    back_office: BackOffice
    client: httpx.AsyncClient
    worker: OutboxWorker

    def poller(self) -> Open311StatusPoller:
        return Open311StatusPoller(BO, self.store, api_key=KEY, client=self.client)


@asynccontextmanager
async def forwarding(
    engine: Engine, clock: MovableClock, media: MediaStore, back_office: BackOffice, signer: MediaSigner | None = None
) -> AsyncIterator[Forwarding]:
    store = store_of(engine, clock, media)
    ref = report(store, media)
    async with httpx.AsyncClient(transport=httpx.MockTransport(back_office.handle)) as client:
        worker = forwarding_worker(engine, store, client, clock, signer or MediaSigner(b"k" * 32))
        yield Forwarding(store, ref, back_office, client, worker)


async def test_forward_carries_the_key_and_a_signed_photo_url_and_keeps_the_back_office_id(
    engine: Engine, clock: MovableClock, media: MediaStore
) -> None:
    back_office, signer = BackOffice(), MediaSigner(b"k" * 32, clock=lambda: START.timestamp())
    async with forwarding(engine, clock, media, back_office, signer) as f:
        assert (await f.worker.run_once()).sent == 1
    store, ref = f.store, f.ref

    [form] = back_office.forms
    assert form["api_key"] == [KEY] and form["service_code"] == ["voirie"]
    photo_url = form["media_url"][0]
    name = store.get_ticket(ref).media_url.removeprefix("media:")  # type: ignore[union-attr]
    assert photo_url.startswith(f"https://console.pau.example/media/{name}?expires=")
    assert signer.verify(name, parse_qs(urlsplit(photo_url).query))
    assert "+33612345678" not in str(form) and SENDER not in str(form)
    assert store.get_ticket(ref).external_id == "BO-1"  # type: ignore[union-attr]


async def test_a_back_office_that_is_down_is_retried_with_backoff_then_staff_can_retry(
    engine: Engine, clock: MovableClock, media: MediaStore
) -> None:
    back_office = BackOffice()
    back_office.down = True
    outbox = OutboxStore(engine)
    async with forwarding(engine, clock, media, back_office) as f:
        store, ref, worker = f.store, f.ref, f.worker
        for _ in range(3):
            await worker.run_once()
            job = outbox.job(f"forward:{ref}")
            assert job is not None
            clock.now = job.next_attempt_at + timedelta(seconds=1)
        assert job.status == "dead" and "503" in (job.last_error or "")
        assert store.get_ticket(ref).external_id is None  # type: ignore[union-attr]

        back_office.down = False
        assert outbox.retry_now(f"forward:{ref}", clock.now)
        assert not outbox.retry_now(f"forward:{ref}", clock.now)  # already waiting: nothing more to do
        assert (await worker.run_once()).sent == 1
    assert store.get_ticket(ref).external_id == "BO-1"  # type: ignore[union-attr]


async def test_the_back_office_closing_a_ticket_reaches_the_citizen(
    engine: Engine, clock: MovableClock, media: MediaStore
) -> None:
    back_office = BackOffice()
    async with forwarding(engine, clock, media, back_office) as f:
        store, ref = f.store, f.ref
        await f.worker.run_once()
        poller = f.poller()

        assert await poller.poll_once() == 0  # still open, nothing new: the citizen hears nothing
        assert OutboxStore(engine).jobs(kind=NOTIFY_KIND) == []

        back_office.requests["BO-1"] = {"status": "open", "status_notes": "Équipe voirie planifiée."}
        assert await poller.poll_once() == 1
        back_office.requests["BO-1"] = {"status": "closed", "status_notes": "Trou rebouché."}
        assert await poller.poll_once() == 1
        assert await poller.poll_once() == 0  # closed here too: no longer asked about

    ticket = store.get_ticket(ref)
    assert ticket is not None and (ticket.state, ticket.status_notes) == ("traite", "Trou rebouché.")
    assert [h.actor for h in store.history(ref)][-2:] == [BACK_OFFICE_ACTOR, BACK_OFFICE_ACTOR]
    jobs = OutboxStore(engine).jobs(kind=NOTIFY_KIND)
    assert [(j.recipient, j.payload["ticket_state"], j.payload["status_note"]) for j in jobs] == [
        (SENDER, "pris_en_charge", "Équipe voirie planifiée."),
        (SENDER, "traite", "Trou rebouché."),
    ]
    assert all("api_key=" + KEY in url for url in back_office.gets)


async def test_a_token_is_kept_then_resolved_to_the_back_office_id(
    engine: Engine, clock: MovableClock, media: MediaStore
) -> None:
    back_office = BackOffice(answer_tokens=True)
    async with forwarding(engine, clock, media, back_office) as f:
        store, ref = f.store, f.ref
        await f.worker.run_once()
        assert store.get_ticket(ref).external_token == "tok-BO-1"  # type: ignore[union-attr]
        back_office.requests["BO-1"] = {"status": "closed", "status_notes": "Fait."}
        assert await f.poller().poll_once() == 1

    ticket = store.get_ticket(ref)
    assert ticket is not None and ticket.external_id == "BO-1" and ticket.state == "traite"


async def test_a_poll_while_the_back_office_is_down_changes_nothing(
    engine: Engine, clock: MovableClock, media: MediaStore
) -> None:
    back_office = BackOffice()
    async with forwarding(engine, clock, media, back_office) as f:
        store, ref = f.store, f.ref
        await f.worker.run_once()
        back_office.down = True
        with pytest.raises(NotificationError, match="503"):
            await f.poller().poll_once()
    assert store.get_ticket(ref).state == "nouveau"  # type: ignore[union-attr]
    assert OutboxStore(engine).jobs(kind=NOTIFY_KIND) == []
