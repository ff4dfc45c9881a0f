"""Calendars, free slots and bookings on SQLite: holidays, closures and exceptions offer no slot, a slot is never
given twice, a pre-application number holds one future slot, and only its citizen changes or cancels a booking."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone

import pytest

from bot.db import create_engine_for
from bot.town.appointments import (
    ATTENDED,
    CANCELLED,
    NO_SHOW,
    ApplicationIdInUse,
    AppointmentStore,
    BookingNotFound,
    InvalidApplicationId,
    OpeningError,
    SlotTaken,
    SlotUnavailable,
    normalise_application_id,
    parse_hours,
    parse_weekdays,
)
from bot.town.catalog.hours import PARIS
from bot.town.catalog.models import Closure, TimeRange

NOW = datetime(2027, 1, 4, 8, 0, tzinfo=PARIS)  # Monday 4 January 2027, 08:00 in Pau
SERVICES = {"mairie", "etat_civil"}
TUESDAY = date(2027, 1, 5)
WEB = ("webchat", "webchat:abc")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS)


@pytest.fixture()
def store() -> Iterator[AppointmentStore]:
    engine = create_engine_for("sqlite://")
    store = AppointmentStore(engine)
    store.create_schema()
    yield store
    engine.dispose()


def open_passports(store: AppointmentStore, *, desks: int = 2, until: date = date(2027, 6, 30)) -> int:
    """« mardi et jeudi 9h–12h, créneaux de 20 min » for passports at the town hall."""
    opening = store.open("mairie", "passeport", TUESDAY, until, (1, 3), 9 * 60, 12 * 60, 20, desks,
                         known_services=SERVICES, actor="cli:agent", now=NOW)  # fmt: skip
    return opening.calendar_id


def book(store: AppointmentStore, calendar_id: int, start: datetime, number: str | None = "AB12CD34EF",
         identity: tuple[str, str] = WEB, closures: tuple[Closure, ...] = ()):  # fmt: skip
    return store.book(calendar_id, start, application_id=number, channel=identity[0], sender_id=identity[1],
                      closures=closures, now=NOW)  # fmt: skip


def test_an_opening_offers_its_slots_on_its_weekdays_only(store: AppointmentStore) -> None:
    calendar = store.calendar(open_passports(store))
    assert calendar is not None
    slots = store.slots(calendar, date(2027, 1, 4), date(2027, 1, 10), closures=(), now=NOW)
    days = {slot.start.date() for slot in slots}
    assert days == {date(2027, 1, 5), date(2027, 1, 7)}  # Tuesday and Thursday
    tuesday = [s for s in slots if s.start.date() == TUESDAY]
    assert [s.start.strftime("%H:%M") for s in tuesday] == ["09:00", "09:20", "09:40", "10:00", "10:20", "10:40",
                                                             "11:00", "11:20", "11:40"]  # fmt: skip
    assert tuesday[-1].end == at(TUESDAY, 12) and all(s.free == 2 and s.desks == 2 for s in slots)


def test_public_holidays_catalog_closures_and_exceptions_offer_no_slot(store: AppointmentStore) -> None:
    calendar_id = open_passports(store)
    ascension = date(2027, 5, 6)  # a Thursday
    store.close_day(calendar_id, date(2027, 1, 12), "formation des agents", actor="admin@pau.example")
    calendar = store.calendar(calendar_id)
    assert calendar is not None
    closures = (Closure(date(2027, 1, 14), date(2027, 1, 14), "inventaire"),
                Closure(date(2027, 1, 19), date(2027, 1, 19), "réunion", TimeRange(10 * 60, 11 * 60)))  # fmt: skip
    slots = store.slots(calendar, date(2027, 1, 11), date(2027, 5, 7), closures=closures, now=NOW)
    days = {slot.start.date() for slot in slots}
    assert ascension not in days and date(2027, 5, 4) in days
    assert date(2027, 1, 12) not in days and date(2027, 1, 14) not in days
    partial = [s.start.strftime("%H:%M") for s in slots if s.start.date() == date(2027, 1, 19)]
    assert partial == ["09:00", "09:20", "09:40", "11:00", "11:20", "11:40"]


def test_past_slots_are_not_offered(store: AppointmentStore) -> None:
    calendar = store.calendar(open_passports(store))
    assert calendar is not None
    later = at(TUESDAY, 10, 5)
    slots = store.slots(calendar, TUESDAY, TUESDAY, closures=(), now=later)
    assert slots[0].start == at(TUESDAY, 10, 20)


def test_a_slot_has_as_many_bookings_as_desks_and_no_more(store: AppointmentStore) -> None:
    calendar_id = open_passports(store, desks=2)
    first = book(store, calendar_id, at(TUESDAY, 9), "AAAAAAAAA1", ("sms", "sms:p-1"))
    second = book(store, calendar_id, at(TUESDAY, 9), "AAAAAAAAA2", ("telegram", "telegram:2"))
    with pytest.raises(SlotTaken):
        book(store, calendar_id, at(TUESDAY, 9), "AAAAAAAAA3", ("webchat", "webchat:3"))
    assert {first.desk, second.desk} == {1, 2} and first.reference != second.reference
    assert first.start == at(TUESDAY, 9).astimezone(timezone.utc) and first.end - first.start == timedelta(minutes=20)
    calendar = store.calendar(calendar_id)
    assert calendar is not None
    offered = store.slots(calendar, TUESDAY, TUESDAY, closures=(), now=NOW)
    assert at(TUESDAY, 9) not in {s.start for s in offered}


def test_the_database_itself_refuses_a_second_booking_of_a_desk(store: AppointmentStore) -> None:
    from sqlalchemy.exc import IntegrityError

    from bot.town.appointments.schema import bookings

    calendar_id = open_passports(store, desks=1)
    taken = book(store, calendar_id, at(TUESDAY, 9))
    row = {"reference": "RDV-TEST-0001", "calendar_id": calendar_id, "desk": taken.desk, "start": taken.start,
           "end": taken.end, "channel": "sms", "sender_id": "sms:x", "status": "booked", "created_at": NOW,
           "changed_at": NOW, "changed_by": "test"}  # fmt: skip
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(bookings.insert().values(**row))


@pytest.mark.parametrize("start", [at(TUESDAY, 9, 10), at(date(2027, 1, 6), 9), at(TUESDAY, 12), at(TUESDAY, 8, 40)])
def test_a_moment_that_is_no_slot_cannot_be_booked(store: AppointmentStore, start: datetime) -> None:
    calendar_id = open_passports(store)
    with pytest.raises(SlotUnavailable):
        book(store, calendar_id, start)


def test_a_closed_day_cannot_be_booked(store: AppointmentStore) -> None:
    calendar_id = open_passports(store)
    closure = Closure(TUESDAY, TUESDAY, "grève")
    with pytest.raises(SlotUnavailable):
        book(store, calendar_id, at(TUESDAY, 9), closures=(closure,))


@pytest.mark.parametrize(("typed", "stored"), [("ab12cd34ef", "AB12CD34EF"), (" AB12-CD34 EF ", "AB12CD34EF"),
                                                ("1234567890", "1234567890"), ("AB12CD34E", None),
                                                ("AB12CD34EFG", None), ("AB12CD34É!", None), ("", None)])  # fmt: skip
def test_a_pre_application_number_is_ten_letters_and_digits(typed: str, stored: str | None) -> None:
    assert normalise_application_id(typed) == stored


def test_a_malformed_pre_application_number_is_refused(store: AppointmentStore) -> None:
    calendar_id = open_passports(store)
    with pytest.raises(InvalidApplicationId):
        book(store, calendar_id, at(TUESDAY, 9), "12345")


def test_a_pre_application_number_holds_one_future_slot_only(store: AppointmentStore) -> None:
    calendar_id = open_passports(store)
    first = book(store, calendar_id, at(TUESDAY, 9), "ab12cd34ef")
    assert first.application_id == "AB12CD34EF"
    with pytest.raises(ApplicationIdInUse):
        book(store, calendar_id, at(TUESDAY, 10), "AB12CD34EF", ("sms", "sms:other"))
    store.cancel(first.reference, actor="webchat", identity=WEB, now=NOW)
    assert book(store, calendar_id, at(TUESDAY, 10), "AB12CD34EF").status == "booked"


def test_a_citizen_changes_their_booking_and_the_old_slot_is_free_again(store: AppointmentStore) -> None:
    calendar_id = open_passports(store, desks=1)
    first = book(store, calendar_id, at(TUESDAY, 9))
    with pytest.raises(BookingNotFound):
        store.change(first.reference, calendar_id, at(TUESDAY, 10), channel="sms", sender_id="sms:stranger",
                     closures=(), now=NOW)  # fmt: skip
    moved = store.change(first.reference, calendar_id, at(TUESDAY, 10), channel=WEB[0], sender_id=WEB[1],
                         closures=(), now=NOW)  # fmt: skip
    assert moved.application_id == first.application_id and moved.start == at(TUESDAY, 10)
    old = store.booking(first.reference)
    assert old is not None and old.status == CANCELLED
    assert book(store, calendar_id, at(TUESDAY, 9), "ZZZZZZZZZ9", ("sms", "sms:p-2")).desk == 1


def test_only_the_citizen_who_booked_cancels_in_conversation(store: AppointmentStore) -> None:
    calendar_id = open_passports(store, desks=1)
    booking = book(store, calendar_id, at(TUESDAY, 9))
    with pytest.raises(BookingNotFound):
        store.cancel(booking.reference, actor="sms", identity=("sms", "sms:stranger"), now=NOW)
    cancelled = store.cancel(booking.reference, actor="webchat", identity=WEB, now=NOW)
    assert cancelled.status == CANCELLED
    with pytest.raises(BookingNotFound):
        store.cancel(booking.reference, actor="webchat", identity=WEB, now=NOW)
    assert book(store, calendar_id, at(TUESDAY, 9), "ZZZZZZZZZ9", ("sms", "sms:p-2")).desk == 1


def test_the_counter_marks_presence_and_lists_the_day(store: AppointmentStore) -> None:
    calendar_id = open_passports(store)
    came = book(store, calendar_id, at(TUESDAY, 9, 20), "AAAAAAAAA1")
    absent = book(store, calendar_id, at(TUESDAY, 9), "AAAAAAAAA2")
    gone = book(store, calendar_id, at(TUESDAY, 11), "AAAAAAAAA3")
    book(store, calendar_id, at(date(2027, 1, 7), 9), "AAAAAAAAA4")
    store.cancel(gone.reference, actor="admin@pau.example", now=NOW)
    store.mark(came.reference, ATTENDED, actor="agent@pau.example")
    store.mark(absent.reference, NO_SHOW, actor="agent@pau.example")
    day = store.bookings_on(TUESDAY)
    assert [(b.reference, b.status) for b in day] == [(absent.reference, NO_SHOW), (came.reference, ATTENDED)]
    assert len(store.bookings_on(TUESDAY, include_cancelled=True)) == 3
    with pytest.raises(BookingNotFound):
        store.mark(gone.reference, ATTENDED, actor="agent@pau.example")


def test_future_bookings_by_number_and_by_identity(store: AppointmentStore) -> None:
    calendar_id = open_passports(store)
    mine = book(store, calendar_id, at(TUESDAY, 9), "AAAAAAAAA1")
    book(store, calendar_id, at(TUESDAY, 10), "AAAAAAAAA2", ("sms", "sms:p-1"))
    assert [b.reference for b in store.future_bookings(now=NOW, application_ids=["AAAAAAAAA1"])] == [mine.reference]
    assert [b.reference for b in store.future_bookings(now=NOW, identity=WEB)] == [mine.reference]
    assert store.future_bookings(now=at(TUESDAY, 9, 30), identity=WEB) == []
    assert store.future_bookings(now=NOW) == []


@pytest.mark.parametrize(
    ("service", "reason", "hours", "every", "desks", "message"),
    [
        ("piscine_olympique", "passeport", (540, 720), 20, 1, "service inconnu « piscine_olympique »"),
        ("mairie", "permis_chasse", (540, 720), 20, 1, "motif inconnu « permis_chasse »"),
        ("mairie", "passeport", (540, 550), 20, 1, "--every : le créneau dépasse la plage horaire"),
        ("mairie", "passeport", (540, 720), 2, 1, "--every : entre 5 et 240 minutes"),
        ("mairie", "passeport", (540, 720), 20, 0, "--desks : entre 1 et 50"),
    ],
)
def test_openings_that_make_no_sense_are_refused_in_french(
    store: AppointmentStore, service: str, reason: str, hours: tuple[int, int], every: int, desks: int, message: str
) -> None:
    with pytest.raises(OpeningError) as refused:
        store.open(service, reason, TUESDAY, date(2027, 2, 1), (1,), *hours, every, desks, known_services=SERVICES,
                   actor="cli:agent", now=NOW)  # fmt: skip
    assert message in refused.value.french


def test_an_opening_may_not_overlap_another_of_its_calendar(store: AppointmentStore) -> None:
    open_passports(store)
    with pytest.raises(OpeningError) as refused:
        store.open("mairie", "passeport", date(2027, 2, 1), date(2027, 2, 28), (3, 4), 11 * 60, 13 * 60, 15, 1,
                   known_services=SERVICES, actor="cli:agent", now=NOW)  # fmt: skip
    assert "chevauchent" in refused.value.french
    afternoon = store.open("mairie", "passeport", date(2027, 2, 1), date(2027, 2, 28), (3, 4), 14 * 60, 16 * 60, 15,
                           1, known_services=SERVICES, actor="cli:agent", now=NOW)  # fmt: skip
    assert len(store.calendars()) == 1 and len(store.calendars()[0].openings) == 2
    assert afternoon.starts()[:2] == [840, 855]


@pytest.mark.parametrize(("text", "days"), [("mon,tue", (0, 1)), ("Thu, tue", (1, 3)), ("lun,mer,ven", (0, 2, 4)),
                                            ("tuesday", (1,))])  # fmt: skip
def test_weekdays_in_english_or_french(text: str, days: tuple[int, ...]) -> None:
    assert parse_weekdays(text) == days


@pytest.mark.parametrize("text", ["", "mon,xyz", ","])
def test_unknown_weekdays_are_refused(text: str) -> None:
    with pytest.raises(OpeningError):
        parse_weekdays(text)


@pytest.mark.parametrize(
    ("text", "minutes"), [("09:00-12:00", (540, 720)), ("9h30-17h", None), ("8:30-12:15", (510, 735))]
)
def test_hours_are_a_range(text: str, minutes: tuple[int, int] | None) -> None:
    if minutes is None:
        with pytest.raises(OpeningError):
            parse_hours(text)
    else:
        assert parse_hours(text) == minutes


@pytest.mark.parametrize("text", ["12:00-09:00", "25:00-26:00", "09:60-10:00", "nine to noon"])
def test_impossible_hours_are_refused(text: str) -> None:
    with pytest.raises(OpeningError):
        parse_hours(text)


def test_the_nearest_free_slots_fit_what_the_citizen_asked(store: AppointmentStore) -> None:
    """« un rdv pour refaire mon passeport la semaine prochaine le matin », « mardi », « après 11h »."""
    calendar_id = open_passports(store, desks=1)
    store.open("etat_civil", "passeport", TUESDAY, date(2027, 6, 30), (2,), 14 * 60, 18 * 60, 30, 1,
               known_services=SERVICES, actor="cli:agent", now=NOW)  # fmt: skip
    store.open("etat_civil", "carte_identite", TUESDAY, date(2027, 6, 30), (0,), 9 * 60, 12 * 60, 30, 1,
               known_services=SERVICES, actor="cli:agent", now=NOW)  # fmt: skip
    book(store, calendar_id, at(TUESDAY, 9))
    closures = {"mairie": (Closure(date(2027, 1, 7), date(2027, 1, 7), "inventaire"),)}

    soonest = store.nearest_slots("passeport", closures_of=closures, now=NOW, limit=3)
    assert [s.start for _, s in soonest] == [at(TUESDAY, 9, 20), at(TUESDAY, 9, 40), at(TUESDAY, 10)]

    next_week_morning = store.nearest_slots("passeport", closures_of=closures, now=NOW, first_day=date(2027, 1, 11),
                                            last_day=date(2027, 1, 17), to_minute=12 * 60, limit=50)  # fmt: skip
    assert {s.start.date() for _, s in next_week_morning} == {date(2027, 1, 12), date(2027, 1, 14)}

    wednesday_late = store.nearest_slots("passeport", closures_of=closures, now=NOW, weekdays={2},
                                         from_minute=17 * 60, limit=2)  # fmt: skip
    assert [(c.service_id, s.start) for c, s in wednesday_late] == [
        ("etat_civil", at(date(2027, 1, 6), 17)), ("etat_civil", at(date(2027, 1, 6), 17, 30))]  # fmt: skip

    thursday = store.nearest_slots("passeport", closures_of=closures, now=NOW, weekdays={3}, limit=1)
    assert thursday[0][1].start == at(date(2027, 1, 14), 9)  # the 7th is closed in the catalog


def test_a_removed_opening_offers_nothing_more_and_its_bookings_stay(store: AppointmentStore) -> None:
    calendar_id = open_passports(store)
    booking = book(store, calendar_id, at(TUESDAY, 9))
    calendar = store.calendar(calendar_id)
    assert calendar is not None
    store.remove_opening(calendar.openings[0].id)
    calendar = store.calendar(calendar_id)
    assert calendar is not None and store.slots(calendar, TUESDAY, TUESDAY, closures=(), now=NOW) == []
    assert store.bookings_on(TUESDAY) == [store.booking(booking.reference)]
    with pytest.raises(OpeningError):
        store.remove_opening(calendar_id + 999)


def test_a_naive_start_is_no_slot(store: AppointmentStore) -> None:
    calendar_id = open_passports(store)
    with pytest.raises(SlotUnavailable):
        book(store, calendar_id, datetime(2027, 1, 5, 9))
