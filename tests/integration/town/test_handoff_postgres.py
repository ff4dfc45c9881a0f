"""Presence, the queue, call-back tickets and satisfaction on the real PostgreSQL server (the production database)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.engine import Engine

from bot.db import create_engine_for
from bot.town.handoff import AgentPresence, HandoffStore, callback_draft, create_handoff_schema
from bot.town.tickets import OutboxStore, TicketStore, create_schema
from bot.town.tickets.satisfaction import SATISFACTION_KIND, SatisfactionStore
from tests.postgres import throwaway_database

pytestmark = pytest.mark.postgres

T0 = 1_795_000_000.0
NOW = datetime.fromtimestamp(T0, timezone.utc)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with throwaway_database("guichet_handoff") as url:
        engine = create_engine_for(url)
        create_schema(engine)
        create_handoff_schema(engine)
        create_handoff_schema(engine)  # safe at every start
        yield engine
        engine.dispose()


def test_presence_and_queue_place_on_postgres(engine: Engine) -> None:
    presence = AgentPresence(engine, presence_seconds=30)
    presence.set_available("agent@pau.example", True, T0)
    presence.set_available("agent@pau.example", True, T0 + 1)  # an update, not a second row
    assert presence.heartbeat("agent@pau.example", T0 + 20)
    assert presence.available_agents(T0 + 49) == ["agent@pau.example"] and presence.available_agents(T0 + 51) == []
    queue = HandoffStore(engine)
    first, second = queue.open_request("webchat:a", "webchat", T0), queue.open_request("sms:b", "sms", T0 + 5)
    assert (queue.queue_place(first.id), queue.queue_place(second.id)) == (1, 2)
    queue.take(first.id, "agent@pau.example", T0 + 65)
    assert queue.recent_take_seconds(T0 + 100) == [65.0] and queue.queue_place(second.id) == 1


def test_call_back_closed_asks_satisfaction_once_and_rates_on_postgres(engine: Engine) -> None:
    tickets = TicketStore(engine, prefix="HOPG", clock=lambda: NOW)
    draft = callback_draft("sms", "sms:c", "callback:pg", phone="+33612345678", question="ma facture", expected=None)
    ref = tickets.create_ticket(draft).ref
    tickets.set_status(ref, "traite", "Un agent vous a rappelé.", "agent@pau.example")
    tickets.set_status(ref, "traite", "encore", "agent@pau.example")
    assert [j.recipient for j in OutboxStore(engine).jobs(kind=SATISFACTION_KIND)] == ["sms:c"]
    answers = SatisfactionStore(engine)
    assert answers.record(ref, "sms", "sms:c", False, NOW) and not answers.record(ref, "sms", "sms:c", True, NOW)
    per_category, per_channel = answers.rates(NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert [(r.key, r.satisfied, r.answered) for r in per_category] == [("autre", 0, 1)]
    assert [(r.key, r.rate) for r in per_channel] == [("sms", 0.0)]
