"""Outbox: notifications and forwards are written first, sent once, retried with backoff, and respect opt-outs."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from bot.db import create_engine_for, write_transaction
from bot.town.notify import FakeNotifier, KindRouter, NotificationError, RasaNotifier
from bot.town.tickets import Backoff, OutboxJob, OutboxStore, OutboxWorker, TicketDraft, TicketStore, create_schema
from bot.town.tickets.forward import Open311Forwarder
from bot.town.tickets.outbox import enqueue

START = datetime(2026, 5, 4, 8, 0, tzinfo=timezone.utc)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def engine(tmp_path: Path):
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outbox(engine) -> OutboxStore:
    return OutboxStore(engine)


def queue(engine, key: str, *, channel: str = "telegram", recipient: str = "tg-1", now: datetime = START) -> None:
    payload = {"ticket_ref": "PAU-2026-000001", "ticket_state": "traite", "status_note": "C'est réparé"}
    with write_transaction(engine) as conn:
        enqueue(conn, "ticket_update", key, payload, channel, recipient, now)


def worker(outbox: OutboxStore, notifier, clock: FakeClock, **options) -> OutboxWorker:  # type: ignore[no-untyped-def]
    return OutboxWorker(outbox, notifier, clock=clock, backoff=Backoff(base_seconds=30, max_attempts=4), **options)


@pytest.mark.asyncio
async def test_pending_notification_is_sent_once(engine, outbox: OutboxStore, clock: FakeClock) -> None:
    queue(engine, "a")
    notifier = FakeNotifier()

    first = await worker(outbox, notifier, clock).run_once()
    second = await worker(outbox, notifier, clock).run_once()

    assert (first.sent, second.sent) == (1, 0)
    assert [j.dedup_key for j in notifier.sent] == ["a"]
    [job] = outbox.jobs()
    assert (job.status, job.attempts, job.sent_at) == ("sent", 1, START)


def test_the_same_message_is_never_enqueued_twice(engine, outbox: OutboxStore) -> None:
    queue(engine, "same")
    queue(engine, "same")
    assert len(outbox.jobs()) == 1


@pytest.mark.asyncio
async def test_failed_send_is_retried_with_exponential_backoff_then_dead(
    engine, outbox: OutboxStore, clock: FakeClock
) -> None:
    queue(engine, "a")
    notifier = FakeNotifier(fail_times=10)
    w = worker(outbox, notifier, clock)
    waits = []

    for _ in range(4):
        run = await w.run_once()
        [job] = outbox.jobs()
        if job.status == "dead":
            break
        assert (run.failed, job.status, job.last_error) == (1, "failed", "NotificationError: fake failure")
        waits.append(job.next_attempt_at - clock.now)
        clock.advance(seconds=waits[-1].total_seconds() - 1)
        assert (await w.run_once()).failed == 0, "retried before it was due"
        clock.advance(seconds=1)

    assert waits == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    assert (job.status, job.attempts) == ("dead", 4)
    clock.advance(days=1)
    assert (await w.run_once()).failed == 0
    assert len(notifier.calls) == 4


@pytest.mark.asyncio
async def test_send_that_fails_once_is_delivered_on_retry(engine, outbox: OutboxStore, clock: FakeClock) -> None:
    queue(engine, "a")
    notifier = FakeNotifier(fail_times=1)
    w = worker(outbox, notifier, clock)

    await w.run_once()
    clock.advance(seconds=30)
    run = await w.run_once()

    assert run.sent == 1
    assert [j.status for j in outbox.jobs()] == ["sent"]
    assert len(notifier.sent) == 1


@pytest.mark.parametrize(("attempts", "delay"), [(1, 30), (2, 60), (3, 120), (6, 960), (8, None)])
def test_backoff_doubles_up_to_a_cap_then_gives_up(attempts: int, delay: int | None) -> None:
    backoff = Backoff(base_seconds=30, factor=2, max_seconds=1000, max_attempts=8)
    expected = None if delay is None else START + timedelta(seconds=delay)
    assert backoff.retry_at(START, attempts) == expected


@pytest.mark.asyncio
async def test_sms_sender_who_opted_out_is_not_notified(engine, outbox: OutboxStore, clock: FakeClock) -> None:
    outbox.set_optout("sms", "+33536490004", True)
    queue(engine, "stop", channel="sms", recipient="+33536490004")
    queue(engine, "other", channel="sms", recipient="+33536490005")
    notifier = FakeNotifier()

    run = await worker(outbox, notifier, clock).run_once()

    assert (run.sent, run.cancelled) == (1, 1)
    assert [j.recipient for j in notifier.calls] == ["+33536490005"]
    assert {j.dedup_key: j.status for j in outbox.jobs()} == {"stop": "cancelled", "other": "sent"}


@pytest.mark.asyncio
async def test_sender_who_opted_back_in_is_notified_again(engine, outbox: OutboxStore, clock: FakeClock) -> None:
    outbox.set_optout("sms", "+33536490004", True)
    outbox.set_optout("sms", "+33536490004", False)
    queue(engine, "start", channel="sms", recipient="+33536490004")
    notifier = FakeNotifier()

    await worker(outbox, notifier, clock).run_once()

    assert not outbox.is_opted_out("sms", "+33536490004")
    assert [j.dedup_key for j in notifier.sent] == ["start"]


class SlowNotifier(FakeNotifier):
    """Takes its time, so that two workers overlap."""

    async def send(self, job: OutboxJob) -> str | None:
        await asyncio.sleep(0.01)
        return await super().send(job)


@pytest.mark.asyncio
async def test_two_workers_at_once_never_send_a_job_twice(engine, outbox: OutboxStore, clock: FakeClock) -> None:
    for n in range(30):
        queue(engine, f"job-{n}", recipient=f"tg-{n}")
    notifier = SlowNotifier()
    workers = [worker(outbox, notifier, clock, batch_size=7) for _ in range(3)]

    for _ in range(5):
        await asyncio.gather(*(w.run_once() for w in workers))

    assert sorted(j.dedup_key for j in notifier.sent) == sorted(f"job-{n}" for n in range(30))
    assert {j.status for j in outbox.jobs()} == {"sent"}


@pytest.mark.asyncio
async def test_job_claimed_by_a_worker_that_died_is_taken_over_after_its_lease(
    engine, outbox: OutboxStore, clock: FakeClock
) -> None:
    queue(engine, "a")
    claimed, _ = outbox.claim_due(clock(), limit=10, lease=timedelta(minutes=5))  # then the worker "dies"
    notifier = FakeNotifier()
    w = worker(outbox, notifier, clock)

    assert [j.dedup_key for j in claimed] == ["a"]
    assert (await w.run_once()).sent == 0
    clock.advance(minutes=6)
    assert (await w.run_once()).sent == 1
    assert outbox.jobs()[0].attempts == 2


def rasa_transport(requests: list[httpx.Request], status: int = 200) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(status, json={"tracker": {}})

    return httpx.MockTransport(handle)


def update_job(**overrides: object) -> OutboxJob:
    values: dict = {
        "id": 1,
        "kind": "ticket_update",
        "dedup_key": "k",
        "payload": {"ticket_ref": "PAU-2026-000123", "ticket_state": "planifie", "status_note": "Jeudi"},
        "channel": "telegram",
        "recipient": "tg 42/a",
        "status": "sending",
        "attempts": 1,
        "next_attempt_at": START,
    }
    values.update(overrides)
    return OutboxJob(**values)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_rasa_notifier_triggers_the_ticket_update_intent_on_the_citizens_channel() -> None:
    requests: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=rasa_transport(requests)) as client:
        await RasaNotifier("http://rasa:5005/", "s3cret", client=client).send(update_job())

    [request] = requests
    assert request.method == "POST"
    assert request.url.raw_path.split(b"?")[0] == b"/conversations/tg%2042%2Fa/trigger_intent"
    assert parse_qs(request.url.query.decode()) == {"output_channel": ["telegram"], "token": ["s3cret"]}
    assert json.loads(request.content) == {
        "name": "EXTERNAL_ticket_update",
        "entities": {"ticket_ref": "PAU-2026-000123", "ticket_state": "planifie", "status_note": "Jeudi"},
    }


@pytest.mark.parametrize("status", [401, 404, 500, 503])
@pytest.mark.asyncio
async def test_rasa_notifier_treats_a_non_2xx_answer_as_a_failure(status: int) -> None:
    async with httpx.AsyncClient(transport=rasa_transport([], status)) as client:
        with pytest.raises(NotificationError, match=str(status)):
            await RasaNotifier("http://rasa:5005", "t", client=client).send(update_job())


@pytest.mark.asyncio
async def test_rasa_notifier_treats_an_unreachable_server_as_a_failure() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(NotificationError, match="unreachable"):
            await RasaNotifier("http://rasa:5005", "t", client=client).send(update_job())


@pytest.mark.asyncio
async def test_staff_status_change_reaches_the_citizen_through_rasa(
    engine, outbox: OutboxStore, clock: FakeClock
) -> None:
    store = TicketStore(engine, clock=clock)
    ticket = store.create_ticket(
        TicketDraft("voirie", "Trou", address="Rue Tran", channel="telegram", sender_id="tg-7")
    )
    store.set_status(ticket.ref, "traite", "Trou rebouché", "agent:marie")
    requests: list[httpx.Request] = []

    async with httpx.AsyncClient(transport=rasa_transport(requests)) as client:
        router = KindRouter({"ticket_update": RasaNotifier("http://rasa:5005", "t", client=client)})
        run = await worker(outbox, router, clock).run_once()

    assert (run.sent, run.delivered) == (0, 1)  # Telegram's API accepted it inside the rasa server's request
    assert [job.status for job in outbox.jobs(kind="ticket_update")] == ["delivered"]
    assert requests[0].url.path == "/conversations/tg-7/trigger_intent"
    assert json.loads(requests[0].content)["entities"]["ticket_state"] == "traite"


class FakeBackOffice:
    """An external Open311 server: records the forms it receives, answers with its own ids."""

    def __init__(self, failures: int = 0) -> None:
        self.forms: list[dict[str, list[str]]] = []
        self.failures = failures

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.failures:
            self.failures -= 1
            return httpx.Response(503, text="maintenance")
        assert request.url.path == "/open311/v2/requests.json"
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        self.forms.append(parse_qs(request.content.decode()))
        return httpx.Response(201, json=[{"service_request_id": f"BO-{len(self.forms)}", "service_notice": "ok"}])


@pytest.mark.asyncio
async def test_new_ticket_is_forwarded_to_the_back_office_once_even_after_a_failure(
    engine, outbox: OutboxStore, clock: FakeClock
) -> None:
    store = TicketStore(engine, clock=clock, forward_new_tickets=True)
    draft = TicketDraft(
        "eclairage_public",
        "Lampadaire éteint",
        address="Place Royale",
        lat=43.2948,
        long=-0.3717,
        channel="sms",
        sender_id="+33536490006",
        contact="+33536490006",
    )
    ticket = store.create_ticket(draft)
    back_office = FakeBackOffice(failures=1)

    async with httpx.AsyncClient(transport=httpx.MockTransport(back_office.handle)) as client:
        router = KindRouter(
            {"forward": Open311Forwarder("http://bo.example/open311/v2", api_key="bo-key", client=client)}
        )
        w = worker(outbox, router, clock)
        assert (await w.run_once()).failed == 1
        clock.advance(minutes=1)
        assert (await w.run_once()).sent == 1
        clock.advance(hours=1)
        assert (await w.run_once()).sent == 0

    [form] = back_office.forms
    assert form == {
        "service_code": ["eclairage_public"],
        "description": ["Lampadaire éteint"],
        "lat": ["43.2948"],
        "long": ["-0.3717"],
        "address_string": ["Place Royale"],
        "api_key": ["bo-key"],
    }
    assert "+33536490006" not in str(form)
    [job] = outbox.jobs(kind="forward")
    assert (job.status, job.response) == ("sent", "BO-1")
    assert job.dedup_key == f"forward:{ticket.ref}"


@pytest.mark.asyncio
async def test_job_of_an_unknown_kind_is_kept_and_retried_not_lost(
    engine, outbox: OutboxStore, clock: FakeClock
) -> None:
    queue(engine, "a")
    run = await worker(outbox, KindRouter({}), clock).run_once()
    assert run.failed == 1
    assert "no notifier" in (outbox.jobs()[0].last_error or "")


@pytest.mark.asyncio
async def test_worker_loop_stops_when_asked(engine, outbox: OutboxStore, clock: FakeClock) -> None:
    queue(engine, "a")
    notifier = FakeNotifier()
    stop = asyncio.Event()
    task = asyncio.create_task(worker(outbox, notifier, clock).run_forever(stop, interval_seconds=0.01))

    for _ in range(200):
        if notifier.sent:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, timeout=2)

    assert [j.dedup_key for j in notifier.sent] == ["a"]


@pytest.mark.asyncio
async def test_rasa_notifier_keeps_the_channel_prefix_of_the_sender_id_readable() -> None:
    """The rasa server does not decode %3A in the conversation id: "telegram:42" must stay as it is."""
    requests: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=rasa_transport(requests)) as client:
        await RasaNotifier("http://rasa:5005/", "s3cret", client=client).send(update_job(recipient="telegram:42"))
    assert requests[0].url.raw_path.split(b"?")[0] == b"/conversations/telegram:42/trigger_intent"
