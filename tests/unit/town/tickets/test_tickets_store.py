"""Ticket store on SQLite: references, idempotency, lifecycle, followers, and what citizens may see."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.db import create_engine_for
from bot.town.tickets import (
    OutboxStore,
    RequestQuery,
    TicketDraft,
    TicketNotFound,
    TicketStore,
    create_schema,
)
from bot.town.tickets.schema import tickets

START = datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

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
def store(engine, clock: FakeClock) -> TicketStore:
    return TicketStore(engine, prefix="PAU", clock=clock)


def pothole(**overrides: object) -> TicketDraft:
    values: dict = {
        "service_code": "voirie",
        "description": "Gros nid-de-poule devant le numéro 12",
        "address": "12 rue Serviez",
        "lat": 43.2951,
        "long": -0.3708,
        "channel": "telegram",
        "sender_id": "tg-1001",
        "contact": "05 36 49 00 01",
    }
    values.update(overrides)
    return TicketDraft(**values)  # type: ignore[arg-type]


def test_citizen_report_gets_a_reference_and_starts_as_nouveau(store: TicketStore) -> None:
    ticket = store.create_ticket(pothole())

    assert ticket.ref == "PAU-2026-000001"
    assert (ticket.state, ticket.status) == ("nouveau", "open")
    assert ticket.street == "rue serviez"
    assert ticket.requested_datetime == START == ticket.updated_datetime
    assert [h.state for h in store.history(ticket.ref)] == ["nouveau"]
    assert [t.ref for t in store.tickets_of("telegram", "tg-1001")] == [ticket.ref]


def test_references_count_up_with_the_town_prefix(engine, clock: FakeClock) -> None:
    store = TicketStore(engine, prefix="tst", clock=clock)
    refs = [store.create_ticket(pothole(sender_id=f"s{i}")).ref for i in range(3)]
    assert refs == ["TST-2026-000001", "TST-2026-000002", "TST-2026-000003"]


def test_reference_year_is_the_towns_local_year_and_numbering_restarts(store: TicketStore, clock: FakeClock) -> None:
    clock.now = datetime(2026, 12, 31, 22, 30, tzinfo=timezone.utc)  # 23:30 in Pau
    assert store.create_ticket(pothole()).ref == "PAU-2026-000001"
    clock.advance(hours=1)  # 00:30 on New Year's day in Pau, still 2026 in UTC
    assert store.create_ticket(pothole()).ref == "PAU-2027-000001"


def test_retried_turn_with_the_same_idempotency_key_returns_the_same_ticket(store: TicketStore, engine) -> None:
    first = store.create_ticket(pothole(idempotency_key="tg-1001:turn-7"))
    again = store.create_ticket(pothole(idempotency_key="tg-1001:turn-7", description="autre texte"))

    assert again == first
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tickets)).scalar_one() == 1


def test_concurrent_reports_get_unique_consecutive_references(store: TicketStore) -> None:
    refs: list[str] = []
    errors: list[BaseException] = []

    def citizen(thread: int) -> None:
        try:
            for i in range(25):
                refs.append(store.create_ticket(pothole(sender_id=f"t{thread}", idempotency_key=f"{thread}:{i}")).ref)
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=citizen, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(refs) == [f"PAU-2026-{n:06d}" for n in range(1, 201)]


def test_concurrent_retries_of_one_report_create_a_single_ticket(store: TicketStore) -> None:
    refs: list[str] = []
    barrier = threading.Barrier(8)

    def retry() -> None:
        barrier.wait()
        refs.append(store.create_ticket(pothole(idempotency_key="same-turn")).ref)

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert refs == ["PAU-2026-000001"] * 8


@pytest.mark.parametrize(
    "draft",
    [pothole(service_code="licorne"), pothole(service_code=""), pothole(lat=43.3, long=None)],
)
def test_invalid_report_is_refused(store: TicketStore, draft: TicketDraft) -> None:
    with pytest.raises(ValueError):
        store.create_ticket(draft)


def test_ticket_is_found_by_a_loosely_typed_reference(store: TicketStore) -> None:
    ticket = store.create_ticket(pothole())
    assert store.get_ticket("pau 2026 000001") == ticket
    assert store.get_ticket("PAU2026000001") == ticket
    assert store.get_ticket("PAU-2026-000002") is None
    assert store.get_ticket("bonjour") is None


@pytest.mark.parametrize(
    ("state", "status"),
    [("nouveau", "open"), ("pris_en_charge", "open"), ("planifie", "open"), ("traite", "closed")],
)
def test_staff_status_change_maps_to_open311_status(store: TicketStore, state: str, status: str) -> None:
    ticket = store.create_ticket(pothole())
    updated = store.set_status(ticket.ref, state, "note", "agent:marie")
    assert (updated.state, updated.status, updated.status_notes) == (state, status, "note")


def test_status_changes_are_dated_in_the_history(store: TicketStore, clock: FakeClock) -> None:
    ticket = store.create_ticket(pothole())
    clock.advance(hours=2)
    store.set_status(ticket.ref, "pris_en_charge", "Équipe voirie prévenue", "agent:marie")
    clock.advance(days=1)
    done = store.set_status(ticket.ref, "traite", "Trou rebouché", "agent:paul")

    history = store.history(ticket.ref)
    assert [(h.state, h.status, h.note, h.actor) for h in history] == [
        ("nouveau", "open", None, "telegram:citizen"),
        ("pris_en_charge", "open", "Équipe voirie prévenue", "agent:marie"),
        ("traite", "closed", "Trou rebouché", "agent:paul"),
    ]
    assert [h.changed_at for h in history] == [START, START + timedelta(hours=2), START + timedelta(days=1, hours=2)]
    assert done.updated_datetime == START + timedelta(days=1, hours=2)


def test_status_change_queues_one_notification_per_follower(store: TicketStore, engine) -> None:
    ticket = store.create_ticket(pothole())
    store.follow(ticket.ref, "sms", "+33536490002")
    store.set_status(ticket.ref, "planifie", "Intervention jeudi", "agent:marie")

    jobs = OutboxStore(engine).jobs(kind="ticket_update")
    assert [(j.channel, j.recipient, j.status) for j in jobs] == [
        ("telegram", "tg-1001", "pending"),
        ("sms", "+33536490002", "pending"),
    ]
    assert jobs[0].payload == {
        "ticket_ref": ticket.ref,
        "ticket_state": "planifie",
        "status_note": "Intervention jeudi",
    }


def test_rejected_ticket_carries_its_reason_to_the_citizen(store: TicketStore, engine) -> None:
    ticket = store.create_ticket(pothole())
    rejected = store.set_status(ticket.ref, "non_retenu", None, "agent:paul", reason="Voie privée")

    assert (rejected.status, rejected.state_reason) == ("closed", "Voie privée")
    assert OutboxStore(engine).jobs()[0].payload["status_note"] == "Voie privée"
    with pytest.raises(ValueError):
        store.set_status(ticket.ref, "non_retenu", None, "agent:paul")


def test_status_change_of_unknown_ticket_or_state_is_refused(store: TicketStore) -> None:
    ticket = store.create_ticket(pothole())
    with pytest.raises(TicketNotFound):
        store.set_status("PAU-2026-000999", "traite", None, "agent")
    with pytest.raises(ValueError):
        store.set_status(ticket.ref, "termine", None, "agent")


def test_creator_and_followers_see_everything_others_see_the_status_only(store: TicketStore) -> None:
    ticket = store.create_ticket(pothole())
    store.follow(ticket.ref, "webchat", "web-77")
    store.set_status(ticket.ref, "planifie", "Jeudi matin", "agent")

    for channel, sender in [("telegram", "tg-1001"), ("webchat", "web-77")]:
        view = store.status_for(ticket.ref, channel, sender)
        assert view is not None and view.full
        assert (view.description, view.status_notes) == (ticket.description, "Jeudi matin")

    stranger = store.status_for("pau 2026 000001", "telegram", "tg-9999")
    assert stranger is not None and not stranger.full
    assert (stranger.ref, stranger.state) == (ticket.ref, "planifie")
    assert (stranger.description, stranger.address, stranger.status_notes) == (None, None, None)
    assert "05 36 49" not in str(stranger.as_slots())
    # Same sender id on another channel is another person.
    assert not store.status_for(ticket.ref, "sms", "tg-1001").full  # type: ignore[union-attr]
    assert store.status_for("PAU-2026-000404", "telegram", "tg-1001") is None


def test_following_a_ticket_twice_subscribes_once(store: TicketStore) -> None:
    ticket = store.create_ticket(pothole())
    assert store.follow(ticket.ref, "sms", "+33536490003") is True
    assert store.follow(ticket.ref, "sms", "+33536490003") is False
    assert [t.ref for t in store.tickets_of("sms", "+33536490003")] == [ticket.ref]
    with pytest.raises(TicketNotFound):
        store.follow("PAU-2026-000404", "sms", "+33536490003")


def test_open311_filters_select_requests(store: TicketStore, clock: FakeClock) -> None:
    first = store.create_ticket(pothole())
    clock.advance(days=2)
    second = store.create_ticket(pothole(service_code="eclairage_public"))
    clock.advance(days=2)
    third = store.create_ticket(pothole(service_code="graffiti"))
    store.set_status(third.ref, "traite", None, "agent")

    def refs(**filters: object) -> list[str]:
        return [t.ref for t in store.list_requests(RequestQuery(**filters))]  # type: ignore[arg-type]

    assert refs() == [third.ref, second.ref, first.ref]
    assert refs(service_codes=("voirie", "graffiti")) == [third.ref, first.ref]
    assert refs(statuses=("open",)) == [second.ref, first.ref]
    assert refs(start=START + timedelta(days=1), end=START + timedelta(days=3)) == [second.ref]
    assert refs(refs=("pau2026000001", "PAU-2026-000003"), statuses=("open",)) == [third.ref, first.ref]
    assert refs(limit=1) == [third.ref]


def test_new_ticket_is_queued_for_forwarding_without_personal_data(engine, clock: FakeClock) -> None:
    store = TicketStore(engine, clock=clock, forward_new_tickets=True)
    ticket = store.create_ticket(pothole(idempotency_key="k"))
    store.create_ticket(pothole(idempotency_key="k"))

    [job] = OutboxStore(engine).jobs(kind="forward")
    assert job.dedup_key == f"forward:{ticket.ref}"
    assert job.payload == {
        "service_code": "voirie",
        "description": ticket.description,
        "lat": "43.2951",
        "long": "-0.3708",
        "address_string": "12 rue Serviez",
    }


def test_schema_creation_can_run_at_every_start_without_losing_tickets(store: TicketStore, engine) -> None:
    ticket = store.create_ticket(pothole())
    create_schema(engine)
    create_schema(engine)
    assert store.get_ticket(ticket.ref) == ticket


@pytest.mark.parametrize("prefix", ["", "P", "PAU1", "PAU-", "TOOLONGX"])
def test_store_refuses_a_prefix_that_references_could_not_carry(engine, prefix: str) -> None:
    with pytest.raises(ValueError):
        TicketStore(engine, prefix=prefix)
