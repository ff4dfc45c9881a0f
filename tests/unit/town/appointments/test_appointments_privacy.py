"""A citizen's appointments and privacy: « supprimer mes données » removes their bookings (the slot is free again),
and retention removes an appointment once it ended more than the period ago, never one still to come."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

import pytest

from bot.db import create_engine_for
from bot.town.appointments import AppointmentStore
from bot.town.catalog.hours import PARIS
from bot.town.privacy import purge
from bot.town.privacy.erasure import erase_sender

NOW = datetime(2027, 1, 4, 8, tzinfo=PARIS)
TUESDAY = date(2027, 1, 5)


@pytest.fixture()
def store() -> Iterator[AppointmentStore]:
    engine = create_engine_for("sqlite://")
    store = AppointmentStore(engine)
    store.create_schema()
    yield store
    engine.dispose()


def nine(day: date) -> datetime:
    return datetime.combine(day, time(9), tzinfo=PARIS)


def test_erasing_a_citizen_removes_their_bookings_and_frees_the_slot(store: AppointmentStore) -> None:
    calendar_id = store.open("mairie", "passeport", TUESDAY, TUESDAY, (1,), 540, 600, 20, 1,
                             known_services={"mairie"}, actor="test", now=NOW).calendar_id  # fmt: skip
    mine = store.book(calendar_id, nine(TUESDAY), application_id="AB12CD34EF", channel="sms", sender_id="sms:p-1",
                      closures=(), now=NOW)  # fmt: skip
    report = erase_sender(store.engine, "sms:p-1")
    assert report.deleted["appointment_bookings"] == 1 and store.booking(mine.reference) is None
    other = store.book(calendar_id, nine(TUESDAY), application_id="ZZ99ZZ99ZZ", channel="webchat",
                       sender_id="webchat:2", closures=(), now=NOW)  # fmt: skip
    assert other.desk == 1


def test_retention_removes_appointments_ended_long_ago_only(store: AppointmentStore) -> None:
    calendar_id = store.open("mairie", "passeport", TUESDAY, date(2027, 12, 31), (1,), 540, 600, 20, 1,
                             known_services={"mairie"}, actor="test", now=NOW).calendar_id  # fmt: skip
    old = store.book(calendar_id, nine(TUESDAY), application_id="AB12CD34EF", channel="sms", sender_id="sms:p-1",
                     closures=(), now=NOW)  # fmt: skip
    coming = store.book(calendar_id, nine(date(2027, 8, 3)), application_id="ZZ99ZZ99ZZ", channel="sms",
                        sender_id="sms:p-2", closures=(), now=NOW)  # fmt: skip
    report = purge(store.engine, timedelta(days=180), now=datetime(2027, 7, 20, tzinfo=PARIS))
    assert report.rows["appointment_bookings"] == 1
    assert store.booking(old.reference) is None and store.booking(coming.reference) is not None
