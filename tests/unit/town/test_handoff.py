"""Human handoff rules: who can answer when, the queue, call-back delays, and requests nobody took in time."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest

from bot.db import create_engine_for
from bot.settings import ROOT
from bot.town.catalog import PARIS, Catalog, load_catalog
from bot.town.handoff import (
    FakeConversationControl,
    HandoffConflict,
    HandoffError,
    HandoffStore,
    HandoffSweeper,
    RasaConversationControl,
    callback_due,
    create_handoff_schema,
    staff_available,
)
from bot.town.tickets import TicketStore, create_schema

SENDER = "webchat:0f3c9a1b2c3d4e5f"
T0 = 1_790_000_000.0  # any epoch: the queue only compares durations


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(ROOT / "data" / "town")


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    create_schema(engine)
    create_handoff_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine) -> HandoffStore:  # type: ignore[no-untyped-def]
    return HandoffStore(engine)


def paris(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("moment", "available"),
    [
        (paris(2026, 11, 24, 10, 0), True),  # Tuesday morning
        (paris(2026, 11, 24, 15, 30), True),  # Tuesday afternoon
        (paris(2026, 11, 24, 12, 30), False),  # lunch break
        (paris(2026, 11, 24, 19, 0), False),  # evening
        (paris(2026, 11, 28, 10, 0), False),  # Saturday
        (paris(2026, 11, 11, 10, 0), False),  # Armistice, a public holiday
        (paris(2026, 10, 16, 10, 0), False),  # exceptional closure (staff training day)
    ],
)
def test_a_person_answers_only_while_the_town_hall_is_open(catalog: Catalog, moment: datetime, available: bool) -> None:
    assert staff_available(catalog, moment) is available


@pytest.mark.parametrize(
    ("asked", "due"),
    [
        (paris(2026, 11, 24, 19, 0), date(2026, 11, 26)),  # Tuesday evening -> Thursday
        (paris(2026, 11, 27, 18, 0), date(2026, 12, 1)),  # Friday -> over the weekend -> Tuesday
        (paris(2026, 11, 10, 18, 0), date(2026, 11, 13)),  # Wednesday 11 November is not a working day
        (paris(2026, 12, 24, 19, 0), date(2026, 12, 29)),  # Christmas and the weekend skipped
    ],
)
def test_call_back_is_due_two_working_days_later(asked: datetime, due: date) -> None:
    assert callback_due(asked) == due


def test_asking_twice_keeps_one_request_in_the_queue(store: HandoffStore) -> None:
    first = store.open_request(SENDER, "webchat", T0)
    again = store.open_request(SENDER, "webchat", T0 + 30)
    assert again.id == first.id and again.status == "waiting" and again.requested_at == T0
    assert [r.id for r in store.active()] == [first.id]


def test_only_one_agent_can_take_a_request(store: HandoffStore) -> None:
    request = store.open_request(SENDER, "webchat", T0)
    taken = store.take(request.id, "agent@pau.example", T0 + 20)
    assert (taken.status, taken.agent, taken.taken_at) == ("taken", "agent@pau.example", T0 + 20)
    with pytest.raises(HandoffConflict):
        store.take(request.id, "autre@pau.example", T0 + 21)


def test_handed_back_request_leaves_the_queue_and_a_new_one_can_start(store: HandoffStore) -> None:
    request = store.open_request(SENDER, "webchat", T0)
    store.take(request.id, "agent@pau.example", T0 + 20)
    closed = store.close(request.id, T0 + 300, "handed_back", resumed=True)
    assert (closed.status, closed.outcome, closed.resumed) == ("closed", "handed_back", True)
    assert store.active() == []
    assert store.latest_closed(SENDER) == closed
    assert store.open_request(SENDER, "webchat", T0 + 400).id != request.id


async def test_request_nobody_took_in_time_becomes_a_call_back_ticket(store: HandoffStore, engine) -> None:  # type: ignore[no-untyped-def]
    tickets = TicketStore(engine)
    control = FakeConversationControl()
    late = store.open_request(SENDER, "webchat", T0)
    recent = store.open_request("telegram:42", "telegram", T0 + 250)
    sweeper = HandoffSweeper(store, tickets, control, timeout_seconds=300, clock=lambda: T0 + 301)

    finished = await sweeper.run_once()

    assert [r.id for r in finished] == [late.id]
    closed = store.get(late.id)
    assert closed is not None and (closed.status, closed.outcome, closed.resumed) == ("closed", "no_agent", True)
    ticket = tickets.get_ticket(closed.callback_ref or "")
    assert ticket is not None
    assert (ticket.service_code, ticket.description, ticket.channel, ticket.sender_id) == (
        "autre", "Demande de rappel", "webchat", SENDER,
    )  # fmt: skip
    assert ticket.expected_datetime is not None
    assert ticket.expected_datetime.astimezone(PARIS).date() == callback_due(datetime.fromtimestamp(T0 + 301, PARIS))
    assert control.handed_back == [(SENDER, "webchat")]
    assert [r.id for r in store.active()] == [recent.id]


async def test_the_call_back_day_follows_the_towns_clock_not_the_queues(store: HandoffStore, engine) -> None:  # type: ignore[no-untyped-def]
    tickets = TicketStore(engine)
    store.open_request(SENDER, "webchat", T0)
    sweeper = HandoffSweeper(store, tickets, FakeConversationControl(), timeout_seconds=300,
                             clock=lambda: T0 + 301, town_now=lambda: paris(2026, 11, 27, 18, 0))  # fmt: skip

    [finished] = await sweeper.run_once()

    ticket = tickets.get_ticket(store.get(finished.id).callback_ref or "")  # type: ignore[union-attr]
    assert ticket is not None and ticket.expected_datetime is not None
    assert ticket.expected_datetime.astimezone(PARIS).date() == date(2026, 12, 1)  # Friday evening -> Tuesday


async def test_call_back_is_written_once_even_when_the_rasa_server_is_down(store: HandoffStore, engine) -> None:  # type: ignore[no-untyped-def]
    tickets = TicketStore(engine)
    control = FakeConversationControl(fail_times=1)
    request = store.open_request(SENDER, "webchat", T0)
    sweeper = HandoffSweeper(store, tickets, control, timeout_seconds=300, clock=lambda: T0 + 600)

    assert await sweeper.run_once() == []  # ticket written, citizen not told yet
    written = store.get(request.id)
    assert written is not None and written.callback_ref and not written.resumed
    assert [r.id for r in await sweeper.run_once()] == [request.id]
    assert store.get(request.id).callback_ref == written.callback_ref  # type: ignore[union-attr]
    assert control.handed_back == [(SENDER, "webchat")]
    assert await sweeper.run_once() == []


async def test_taken_request_never_times_out(store: HandoffStore, engine) -> None:  # type: ignore[no-untyped-def]
    request = store.open_request(SENDER, "webchat", T0)
    store.take(request.id, "agent@pau.example", T0 + 10)
    sweeper = HandoffSweeper(store, TicketStore(engine), FakeConversationControl(), timeout_seconds=300,
                             clock=lambda: T0 + 3600)  # fmt: skip
    assert await sweeper.run_once() == []
    assert store.get(request.id).status == "taken"  # type: ignore[union-attr]


async def test_agent_text_and_hand_back_go_through_the_rasa_http_api() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={})

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    control = RasaConversationControl("http://127.0.0.1:5005/", "jeton", client=client)
    await control.send_agent_text(SENDER, "webchat", "Bonjour, je regarde votre dossier.")
    await control.hand_back(SENDER, "webchat")
    await client.aclose()

    sent, resume, trigger = calls
    # Not %3A: the rasa server (Sanic) does not decode the conversation id of the path.
    assert sent.url.raw_path.split(b"?")[0] == b"/conversations/webchat:0f3c9a1b2c3d4e5f/tracker/events"
    assert dict(sent.url.params) == {"execute_side_effects": "true", "output_channel": "webchat", "token": "jeton"}
    body = json.loads(sent.content)
    assert (body["event"], body["text"], body["metadata"]) == (
        "bot", "Bonjour, je regarde votre dossier.", {"handoff": "agent"},
    )  # fmt: skip
    assert json.loads(resume.content) == [{"event": "resume"}, {"event": "action", "name": "action_listen"}]
    assert trigger.url.path.endswith("/trigger_intent") and trigger.url.params["output_channel"] == "webchat"
    assert json.loads(trigger.content) == {"name": "EXTERNAL_handoff_update"}


async def test_refused_call_is_reported_not_swallowed() -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(401, text="no token")))
    control = RasaConversationControl("http://127.0.0.1:5005", None, client=client)
    with pytest.raises(HandoffError, match="401"):
        await control.send_agent_text(SENDER, "webchat", "Bonjour")
    await client.aclose()
