"""Human handoff rules: agents' presence, the queue with its place and wait, call-back windows from the town hall's
hours, and requests nobody took in time."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from bot.db import create_engine_for
from bot.settings import ROOT
from bot.town.catalog import PARIS, Catalog, load_catalog
from bot.town.handoff import (
    DEFAULT_TAKE_SECONDS,
    TOWN_HALL,
    AgentPresence,
    FakeConversationControl,
    HandoffConflict,
    HandoffError,
    HandoffStore,
    HandoffSweeper,
    RasaConversationControl,
    callback_draft,
    callback_phrase,
    callback_window,
    create_handoff_schema,
    estimate_wait_minutes,
    is_callback,
)
from bot.town.tickets import create_schema

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


AGENT = "agent@pau.example"


@pytest.fixture
def presence(engine) -> AgentPresence:  # type: ignore[no-untyped-def]
    return AgentPresence(engine, presence_seconds=30)


def test_an_agent_is_available_only_after_switching_to_disponible(presence: AgentPresence) -> None:
    assert presence.available_agents(T0) == []
    assert presence.heartbeat(AGENT, T0) is False  # polling alone does not make anyone available
    presence.set_available(AGENT, True, T0)
    assert presence.available_agents(T0 + 1) == [AGENT]
    presence.set_available(AGENT, False, T0 + 2)
    assert presence.available_agents(T0 + 3) == [] and presence.heartbeat(AGENT, T0 + 3) is False


def test_presence_expires_when_the_agents_page_stops_polling(presence: AgentPresence) -> None:
    presence.set_available(AGENT, True, T0)
    assert presence.heartbeat(AGENT, T0 + 25) is True
    assert presence.is_available(AGENT, T0 + 54)  # 29 s after the last poll
    assert not presence.is_available(AGENT, T0 + 56)  # 31 s: the tab was closed
    assert presence.heartbeat(AGENT, T0 + 60) is True  # the page polls again: present again
    assert presence.is_available(AGENT, T0 + 61)


def test_presence_is_shared_through_the_database(engine, presence: AgentPresence) -> None:  # type: ignore[no-untyped-def]
    presence.set_available(AGENT, True, T0)
    other_process = AgentPresence(engine, presence_seconds=30)
    assert other_process.available_agents(T0 + 5) == [AGENT]


def test_place_in_the_queue_counts_the_citizens_waiting_ahead(store: HandoffStore) -> None:
    first = store.open_request("webchat:a", "webchat", T0)
    second = store.open_request("telegram:b", "telegram", T0 + 10)
    third = store.open_request("sms:c", "sms", T0 + 20)
    assert [store.queue_place(r.id) for r in (first, second, third)] == [1, 2, 3]
    store.take(first.id, AGENT, T0 + 30)
    assert [store.queue_place(r.id) for r in (first, second, third)] == [0, 1, 2]


@pytest.mark.parametrize(
    ("place", "history", "agents", "minutes"),
    [
        (1, [], 1, 3),  # no history: the three-minute default
        (2, [60.0], 1, 6),  # too little history: still the default
        (1, [60.0, 120.0, 600.0], 1, 2),  # the median of recent waits (120 s), not the mean
        (3, [60.0, 120.0, 600.0], 1, 6),
        (3, [60.0, 120.0, 600.0], 2, 3),  # two agents share the queue
        (1, [5.0, 5.0, 5.0], 1, 1),  # never « 0 min »
    ],
)
def test_the_wait_is_estimated_from_recent_hand_overs(
    place: int, history: list[float], agents: int, minutes: int
) -> None:
    assert DEFAULT_TAKE_SECONDS == 180.0
    assert estimate_wait_minutes(place, history, agents) == minutes


def test_recent_waits_come_from_the_last_taken_requests(store: HandoffStore) -> None:
    old = store.open_request("webchat:old", "webchat", T0 - 10 * 86400)
    store.take(old.id, AGENT, T0 - 10 * 86400 + 999)  # older than a week: ignored
    recent = store.open_request("webchat:new", "webchat", T0)
    store.take(recent.id, AGENT, T0 + 90)
    store.open_request("webchat:waiting", "webchat", T0 + 100)  # not taken yet: no wait known
    assert store.recent_take_seconds(T0 + 200) == [90.0]


@pytest.mark.parametrize(
    ("asked", "phrase", "end"),
    [
        (paris(2026, 11, 24, 19, 0), "demain matin entre 8h30 et 12h", paris(2026, 11, 25, 12, 0)),  # Tue evening
        (paris(2026, 11, 24, 10, 0), "aujourd'hui avant 12h", paris(2026, 11, 24, 12, 0)),  # open, time left
        (paris(2026, 11, 24, 11, 45), "aujourd'hui après-midi entre 13h30 et 17h", paris(2026, 11, 24, 17, 0)),
        (paris(2026, 11, 27, 18, 0), "lundi matin entre 8h30 et 12h", paris(2026, 11, 30, 12, 0)),  # weekend
        (paris(2026, 11, 10, 18, 0), "jeudi matin entre 8h30 et 12h", paris(2026, 11, 12, 12, 0)),  # 11 Nov
    ],
)
def test_the_call_back_falls_in_the_town_halls_next_opening_range(
    catalog: Catalog, asked: datetime, phrase: str, end: datetime
) -> None:
    window = callback_window(catalog.service(TOWN_HALL), asked)
    assert window is not None and window.end == end
    assert callback_phrase(window, asked) == phrase


def test_a_town_hall_that_never_opens_gives_no_window() -> None:
    assert callback_phrase(None, paris(2026, 11, 24, 10, 0)) == "dès que possible"


def test_call_back_ticket_holds_the_number_and_the_question() -> None:
    draft = callback_draft(
        "sms", "sms:abc", "callback:1", phone="+33612345678", question="ma facture de cantine",
        expected=paris(2026, 11, 25, 12, 0),
    )  # fmt: skip
    assert (draft.service_code, draft.contact, draft.description) == (
        "autre", "+33612345678", "Demande de rappel : ma facture de cantine",
    )  # fmt: skip
    assert is_callback(draft.description, draft.service_code)
    assert not is_callback("Demande de rappel", "voirie") and not is_callback("un trou", "autre")


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


async def test_request_nobody_took_in_time_is_given_back_to_the_bot(store: HandoffStore) -> None:
    control = FakeConversationControl()
    late = store.open_request(SENDER, "webchat", T0)
    recent = store.open_request("telegram:42", "telegram", T0 + 250)
    sweeper = HandoffSweeper(store, control, timeout_seconds=300, clock=lambda: T0 + 301)

    finished = await sweeper.run_once()

    assert [r.id for r in finished] == [late.id]
    closed = store.get(late.id)
    assert closed is not None and (closed.status, closed.outcome, closed.resumed) == ("closed", "no_agent", True)
    assert closed.callback_ref is None  # the bot asks for the number and the question, then writes the ticket
    assert control.handed_back == [(SENDER, "webchat")]
    assert [r.id for r in store.active()] == [recent.id]


async def test_resumption_is_retried_when_the_rasa_server_is_down(store: HandoffStore) -> None:
    control = FakeConversationControl(fail_times=1)
    request = store.open_request(SENDER, "webchat", T0)
    sweeper = HandoffSweeper(store, control, timeout_seconds=300, clock=lambda: T0 + 600)

    assert await sweeper.run_once() == []  # closed, citizen not told yet
    assert not store.get(request.id).resumed  # type: ignore[union-attr]
    assert [r.id for r in await sweeper.run_once()] == [request.id]
    assert control.handed_back == [(SENDER, "webchat")]
    assert await sweeper.run_once() == []


async def test_taken_request_never_times_out(store: HandoffStore, engine) -> None:  # type: ignore[no-untyped-def]
    request = store.open_request(SENDER, "webchat", T0)
    store.take(request.id, "agent@pau.example", T0 + 10)
    sweeper = HandoffSweeper(store, FakeConversationControl(), timeout_seconds=300, clock=lambda: T0 + 3600)
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
