"""Appointments on the real PostgreSQL server: citizens racing for the last desk of a slot, each through its own
engine (as separate servers would), get it once; the same pre-application number racing for two slots gets one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time

import pytest

from bot.db import create_engine_for
from bot.town.appointments import ApplicationIdInUse, AppointmentStore, Booking, BookingError, SlotTaken
from bot.town.catalog.hours import PARIS
from tests.postgres import throwaway_database

pytestmark = pytest.mark.postgres

NOW = datetime(2027, 1, 4, 8, 0, tzinfo=PARIS)
TUESDAY = date(2027, 1, 5)
NINE = datetime.combine(TUESDAY, time(9), tzinfo=PARIS)
RACERS = 8


@pytest.fixture()
def database_url() -> Iterator[str]:
    with throwaway_database("guichet_appointments") as url:
        yield url


def open_store(url: str) -> AppointmentStore:
    store = AppointmentStore(create_engine_for(url))
    store.create_schema()
    return store


def race(stores: list[AppointmentStore], attempt) -> list[Booking | BookingError]:  # type: ignore[no-untyped-def]
    """Run `attempt(store, i)` in every thread at the same instant; each result or refusal."""
    barrier = threading.Barrier(len(stores))

    def run(i: int) -> Booking | BookingError:
        barrier.wait()
        try:
            return attempt(stores[i], i)
        except BookingError as refused:
            return refused

    with ThreadPoolExecutor(len(stores)) as pool:
        return list(pool.map(run, range(len(stores))))


def test_citizens_racing_for_the_last_desk_of_a_slot_get_it_once(database_url: str) -> None:
    stores = [open_store(database_url) for _ in range(RACERS)]
    calendar_id = stores[0].open("mairie", "passeport", TUESDAY, TUESDAY, (1,), 540, 600, 20, 2,
                                 known_services={"mairie"}, actor="test", now=NOW).calendar_id  # fmt: skip
    stores[0].book(calendar_id, NINE, application_id="FIRST00001", channel="sms", sender_id="sms:first", closures=(),
                   now=NOW)  # fmt: skip  # one desk of two is left

    results = race(stores, lambda store, i: store.book(
        calendar_id, NINE, application_id=f"RACER0000{i}", channel="webchat", sender_id=f"webchat:{i}", closures=(),
        now=NOW))  # fmt: skip

    winners = [r for r in results if isinstance(r, Booking)]
    assert len(winners) == 1 and winners[0].desk == 2
    assert all(isinstance(r, SlotTaken) for r in results if not isinstance(r, Booking))
    assert [b.sender_id for b in stores[0].bookings_on(TUESDAY)] == ["sms:first", winners[0].sender_id]
    for store in stores:
        store.engine.dispose()


def test_one_pre_application_number_racing_for_two_slots_gets_one(database_url: str) -> None:
    stores = [open_store(database_url) for _ in range(4)]
    calendar_id = stores[0].open("mairie", "passeport", TUESDAY, TUESDAY, (1,), 540, 720, 20, 1,
                                 known_services={"mairie"}, actor="test", now=NOW).calendar_id  # fmt: skip
    starts = [datetime.combine(TUESDAY, time(9 + i // 3, (i % 3) * 20), tzinfo=PARIS) for i in range(4)]

    results = race(stores, lambda store, i: store.book(
        calendar_id, starts[i], application_id="SAME000001", channel="sms", sender_id=f"sms:{i}", closures=(),
        now=NOW))  # fmt: skip

    assert len([r for r in results if isinstance(r, Booking)]) == 1
    assert len([r for r in results if isinstance(r, ApplicationIdInUse)]) == 3
    for store in stores:
        store.engine.dispose()
