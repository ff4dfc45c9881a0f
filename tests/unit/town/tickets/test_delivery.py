"""Delivery truth: an update is `delivered` only when the platform accepted it or the citizen's session got it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bot.db import create_engine_for
from bot.town.notify import KindRouter, NotificationError, RasaNotifier
from bot.town.tickets import Backoff, OutboxStore, OutboxWorker, TicketDraft, TicketStore, create_schema
from bot.town.tickets.fallback import FallbackPlanner, fallback_key
from bot.town.tickets.held import HeldMessages
from bot.town.tickets.outbox import FALLBACK_KIND, NOTIFY_KIND, SendResult
from tests.unit.town.tickets.test_outbox import START, FakeClock


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


RENDERED = [{"recipient_id": "webchat:s1", "text": "Ville de Pau : votre signalement PAU-2026-000001 est traité."}]


def rasa(requests: list[httpx.Request], body: dict) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json=body)

    return httpx.MockTransport(handle)


def web_ticket(store: TicketStore, *, contact: str | None = None, consent: bool = False, sender: str = "webchat:s1"):
    draft = TicketDraft(
        "voirie", "Trou", address="Rue Tran", channel="webchat", sender_id=sender, contact=contact,
        contact_consent=consent,
    )  # fmt: skip
    return store.create_ticket(draft)


async def notify_once(engine, clock, body: dict, requests: list[httpx.Request] | None = None):  # type: ignore[no-untyped-def]
    requests = requests if requests is not None else []
    async with httpx.AsyncClient(transport=rasa(requests, body)) as client:
        router = KindRouter({NOTIFY_KIND: RasaNotifier("http://rasa:5005", "t", client=client)})
        return await OutboxWorker(OutboxStore(engine), router, clock=clock).run_once()


@pytest.mark.asyncio
async def test_a_web_chat_update_is_held_not_delivered_until_the_session_takes_it(engine, clock) -> None:
    store = TicketStore(engine, clock=clock)
    ticket = web_ticket(store)
    store.set_status(ticket.ref, "traite", None, "agent:marie")
    requests: list[httpx.Request] = []

    run = await notify_once(engine, clock, {"tracker": {}, "messages": RENDERED}, requests)

    assert (run.sent, run.delivered) == (1, 0)
    assert "output_channel" not in requests[0].url.params  # rendered and returned, not emitted into an empty room
    [job] = OutboxStore(engine).jobs(kind=NOTIFY_KIND)
    assert job.status == "sent"
    held = HeldMessages(engine)
    [waiting] = held.waiting("webchat", ["webchat:s1", "webchat:other"])
    assert waiting.messages == [{"text": RENDERED[0]["text"]}]

    assert held.claim(waiting.id, clock()) is True
    assert held.claim(waiting.id, clock()) is False  # one process emits it, once
    assert OutboxStore(engine).jobs()[0].status == "delivered"
    assert held.waiting("webchat", ["webchat:s1"]) == []


@pytest.mark.asyncio
async def test_a_bare_2xx_with_collected_messages_is_not_delivered(engine, clock) -> None:
    store = TicketStore(engine, clock=clock)
    ticket = store.create_ticket(TicketDraft("voirie", "Trou", address="Rue Tran", channel="rest", sender_id="rest:x"))
    store.set_status(ticket.ref, "traite", None, "agent:marie")

    run = await notify_once(engine, clock, {"tracker": {}, "messages": RENDERED})

    assert (run.sent, run.delivered) == (1, 0)
    assert OutboxStore(engine).jobs()[0].status == "sent"


@pytest.mark.asyncio
async def test_a_web_chat_update_the_server_rendered_nothing_for_is_a_failure() -> None:
    from bot.town.tickets import OutboxJob

    job = OutboxJob(
        1, NOTIFY_KIND, "k", {"ticket_ref": "PAU-2026-000001"}, "webchat", "webchat:s1", "sending", 1, START
    )
    async with httpx.AsyncClient(transport=rasa([], {"tracker": {}, "messages": []})) as client:
        with pytest.raises(NotificationError, match="rendered nothing"):
            await RasaNotifier("http://rasa:5005", None, client=client).send(job)


def undelivered_update(engine, clock, *, contact: str | None, consent: bool, sender: str = "webchat:s1") -> str:
    store = TicketStore(engine, clock=clock)
    ticket = web_ticket(store, contact=contact, consent=consent, sender=sender)
    store.set_status(ticket.ref, "non_retenu", None, "agent:marie", reason="Domaine privé")
    return ticket.ref


def test_an_update_undelivered_after_the_delay_falls_back_to_the_consented_email(engine, clock) -> None:
    undelivered_update(engine, clock, contact="jeanne@exemple.fr", consent=True)
    planner = FallbackPlanner(engine, timedelta(minutes=60))

    clock.advance(minutes=59)
    assert planner.plan(clock()) == 0
    clock.advance(minutes=2)
    assert planner.plan(clock()) == 1
    assert planner.plan(clock()) == 0  # once per update

    jobs = OutboxStore(engine).jobs()
    [original] = [j for j in jobs if j.kind == NOTIFY_KIND]
    [fallback] = [j for j in jobs if j.kind == FALLBACK_KIND]
    assert (fallback.channel, fallback.recipient, fallback.status) == ("email", "jeanne@exemple.fr", "pending")
    assert fallback.dedup_key == fallback_key(original.id)
    assert fallback.payload["ticket_state"] == "non_retenu" and fallback.payload["status_note"] == "Domaine privé"


def test_no_fallback_without_consent_or_once_delivered(engine, clock) -> None:
    undelivered_update(engine, clock, contact="paul@exemple.fr", consent=False, sender="webchat:s2")
    undelivered_update(engine, clock, contact="lea@exemple.fr", consent=True, sender="webchat:s3")
    store = OutboxStore(engine)
    [delivered] = [j for j in store.jobs(kind=NOTIFY_KIND) if j.recipient == "webchat:s3"]
    store.claim_due(clock(), limit=10, lease=timedelta(minutes=5))
    store.mark_sent(delivered.id, clock(), delivered=True)

    clock.advance(hours=2)
    assert FallbackPlanner(engine, timedelta(minutes=60)).plan(clock()) == 0
    assert [j for j in store.jobs() if j.kind == FALLBACK_KIND] == []


def test_a_phone_contact_falls_back_only_when_sms_fallback_is_on(engine, clock) -> None:
    undelivered_update(engine, clock, contact="+33612345678", consent=True)
    clock.advance(hours=2)
    assert FallbackPlanner(engine, timedelta(minutes=60)).plan(clock()) == 0
    assert FallbackPlanner(engine, timedelta(minutes=60), channels=("email", "sms")).plan(clock()) == 0  # no ids
    both = FallbackPlanner(engine, timedelta(minutes=60), channels=("email", "sms"), sms_sender_id=pseudonym)
    assert both.plan(clock()) == 1


def test_a_consent_without_a_contact_is_not_recorded(engine, clock) -> None:
    store = TicketStore(engine, clock=clock)
    ticket = web_ticket(store, contact=None, consent=True)
    assert store.contact_consented(ticket) is False
    with_contact = web_ticket(store, contact="a@b.fr", consent=True, sender="webchat:s9")
    assert store.contact_consented(with_contact) is True


@pytest.mark.asyncio
async def test_a_failed_fallback_is_retried_with_backoff_then_delivered(engine, clock) -> None:
    undelivered_update(engine, clock, contact="jeanne@exemple.fr", consent=True)
    clock.advance(hours=2)

    class FlakySmtp:
        calls = 0

        async def send(self, job):  # type: ignore[no-untyped-def]
            FlakySmtp.calls += 1
            if FlakySmtp.calls == 1:
                raise NotificationError("SMTP server refused or unreachable: 451")
            return SendResult(delivered=True, response="smtp: 250 OK")

    class Refusing:
        async def send(self, job):  # type: ignore[no-untyped-def]
            raise NotificationError("rasa server unreachable")

    router = KindRouter({NOTIFY_KIND: Refusing(), FALLBACK_KIND: FlakySmtp()})
    worker = OutboxWorker(
        OutboxStore(engine), router, clock=clock, backoff=Backoff(base_seconds=30),
        fallback=FallbackPlanner(engine, timedelta(minutes=60)),
    )  # fmt: skip
    first = await worker.run_once()
    # failed: the update, its fallback, and the satisfaction question of the closed ticket (no sender in this router)
    assert first.fallbacks == 1 and first.failed == 3
    [fallback] = OutboxStore(engine).jobs(kind=FALLBACK_KIND)
    assert fallback.status == "failed" and "451" in (fallback.last_error or "")

    clock.advance(seconds=31)
    second = await worker.run_once()
    assert second.delivered == 1
    [fallback] = OutboxStore(engine).jobs(kind=FALLBACK_KIND)
    assert (fallback.status, fallback.response) == ("delivered", "smtp: 250 OK")


def test_held_messages_survive_as_json(engine, clock) -> None:
    store = TicketStore(engine, clock=clock)
    store.set_status(web_ticket(store).ref, "planifie", "Jeudi", "agent:marie")
    outbox = OutboxStore(engine)
    [job], _ = outbox.claim_due(clock(), limit=5, lease=timedelta(minutes=5))
    buttons = [{"text": "x", "buttons": [{"title": "Oui", "payload": "/affirm"}]}]
    assert outbox.mark_sent(job.id, clock(), held=buttons)
    [held] = HeldMessages(engine).waiting("webchat", ["webchat:s1"])
    assert json.loads(json.dumps(held.messages)) == buttons
    assert HeldMessages(engine).of_jobs([job.id])[job.id].id == held.id


def pseudonym(number: str) -> str:
    from bot.town.privacy.pseudonyms import sms_sender_id

    return sms_sender_id(b"test-identity-secret", number)


@pytest.mark.asyncio
async def test_a_phone_given_with_consent_gets_the_update_by_sms_through_the_sms_channel(engine, clock) -> None:
    from bot.town.tickets.fallback import SmsFallbackNotifier
    from connectors.shared.tables import create_channel_tables, sms_identities

    create_channel_tables(engine)
    ref = undelivered_update(engine, clock, contact="+33612345678", consent=True)
    clock.advance(hours=2)
    planner = FallbackPlanner(engine, timedelta(minutes=60), channels=("email", "sms"), sms_sender_id=pseudonym)
    assert planner.plan(clock()) == 1
    [fallback] = OutboxStore(engine).jobs(kind=FALLBACK_KIND)
    assert (fallback.channel, fallback.recipient) == ("sms", pseudonym("+33612345678"))  # STOP from it cancels it

    requests: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=rasa(requests, {"tracker": {}})) as client:
        sms = SmsFallbackNotifier(TicketStore(engine), RasaNotifier("http://rasa:5005", "t", client=client), pseudonym)
        result = await sms.send(fallback)

    assert result == SendResult(delivered=True)  # Twilio accepted it inside the rasa server's request
    assert requests[0].url.path == f"/conversations/{pseudonym('+33612345678')}/trigger_intent"
    assert requests[0].url.params["output_channel"] == "sms"
    assert json.loads(requests[0].content)["entities"]["ticket_ref"] == ref
    with engine.connect() as conn:
        number = conn.execute(sms_identities.select().where(sms_identities.c.sender_id == fallback.recipient)).one()
    assert number.address == "+33612345678"  # the SMS channel knows where to send it


@pytest.mark.asyncio
async def test_an_sms_fallback_for_a_ticket_anonymised_since_is_not_sent(engine, clock) -> None:
    from sqlalchemy import update

    from bot.town.tickets.fallback import SmsFallbackNotifier
    from bot.town.tickets.schema import tickets

    undelivered_update(engine, clock, contact="+33612345678", consent=True)
    clock.advance(hours=2)
    FallbackPlanner(engine, timedelta(minutes=60), channels=("sms",), sms_sender_id=pseudonym).plan(clock())
    [fallback] = OutboxStore(engine).jobs(kind=FALLBACK_KIND)
    with engine.begin() as conn:
        conn.execute(update(tickets).values(contact=None))  # erased by the citizen meanwhile

    class NeverCalled:
        async def send(self, job):  # type: ignore[no-untyped-def]
            raise AssertionError("sent to a number the town no longer has")

    with pytest.raises(NotificationError, match="no longer has the number"):
        await SmsFallbackNotifier(TicketStore(engine), NeverCalled(), pseudonym).send(fallback)
