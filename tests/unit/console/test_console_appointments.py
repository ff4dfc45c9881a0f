"""The console's /rendez-vous: staff only; agents see the calendars and the day's list and mark presence, admins
also open slots, close a day and cancel; every change is audited and every form carries its CSRF token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, time
from pathlib import Path

import httpx
import pytest

from bot.settings import ROOT
from bot.town.appointments import AppointmentStore, Booking
from bot.town.catalog import load_catalog
from bot.town.catalog.hours import PARIS
from tests.unit.console.test_console_pages import (
    ADMIN,
    AGENT,
    Console,
    audit_actions,
    client_for,
    csrf_of,
    log_in,
    start_console,
)

TUESDAY = date(2027, 1, 5)
NOW = datetime(2027, 1, 4, 8, tzinfo=PARIS)
SERVICES = set(load_catalog(ROOT / "data" / "town").services)


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    async for running in start_console(tmp_path, clock_override=datetime(2027, 1, 5, 8, 30)):
        yield running


def seed(console: Console) -> tuple[AppointmentStore, int, list[Booking]]:
    """Passports at the town hall on Tuesdays, two citizens booked on Tuesday 5 January."""
    store = AppointmentStore(console.engine)
    calendar_id = store.open("mairie", "passeport", TUESDAY, date(2027, 3, 31), (1,), 540, 720, 20, 1,
                             known_services=SERVICES, actor="cli:test", now=NOW).calendar_id  # fmt: skip
    booked = [
        store.book(calendar_id, datetime.combine(TUESDAY, time(h, m), tzinfo=PARIS), application_id=number,
                   channel="sms", sender_id=f"sms:{number}", closures=(), now=NOW)
        for h, m, number in ((9, 20, "AB12CD34EF"), (9, 0, "ZZ99ZZ99ZZ"))
    ]  # fmt: skip
    return store, calendar_id, booked


@asynccontextmanager
async def signed_in(console: Console, email: str) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(console) as client:
        assert (await log_in(client, email)).status_code == 303
        yield client


async def post(client: httpx.AsyncClient, action: str, **fields: object) -> httpx.Response:
    token = csrf_of((await client.get("/rendez-vous")).text)
    return await client.post(action, data={"csrf_token": token, **fields})


@pytest.mark.parametrize("path", ["/rendez-vous", "/rendez-vous?jour=2027-01-05"])
async def test_a_stranger_is_sent_to_login(console: Console, path: str) -> None:
    async with client_for(console) as client:
        response = await client.get(path)
        posted = await client.post("/rendez-vous/RDV-AAAA-BBBB/annuler", data={"csrf_token": "x"})
    assert response.status_code == 302 and response.headers["location"].startswith("/login?next=")
    assert posted.status_code == 302 and posted.headers["location"].startswith("/login")


async def test_an_agent_sees_the_days_list_for_the_counter(console: Console) -> None:
    _, _, (later, earlier) = seed(console)
    async with signed_in(console, AGENT) as client:
        page = await client.get("/rendez-vous")  # today by the town's clock: Tuesday 5 January
        other = await client.get("/rendez-vous", params={"jour": "2027-01-12"})
    assert page.status_code == 200
    assert 'aria-current="page">Rendez-vous<' in page.text
    assert "Liste du guichet — 05/01/2027" in page.text and "2 rendez-vous" in page.text
    assert page.text.index(earlier.reference) < page.text.index(later.reference)  # by time
    assert "ZZ99ZZ99ZZ" in page.text and '<th scope="row">09:00</th>' in page.text
    assert "mardi 09:00–12:00, créneaux de 20 min, 1 guichet" in page.text
    assert "Ouvrir les créneaux" not in page.text and "/annuler" not in page.text  # admins only
    assert '<link rel="stylesheet" href="/console/static/console.css">' in page.text  # its @media print rules
    assert "Aucun rendez-vous ce jour-là." in other.text


async def test_an_agent_marks_presence_and_it_is_audited(console: Console) -> None:
    store, _, (came, absent) = seed(console)
    async with signed_in(console, AGENT) as client:
        done = await post(client, f"/rendez-vous/{came.reference}/presence", presence="venu", jour="2027-01-05")
        await post(client, f"/rendez-vous/{absent.reference}/presence", presence="absent", jour="2027-01-05")
        wrong = await post(client, f"/rendez-vous/{came.reference}/presence", presence="peut-être")
        page = await client.get(done.headers["location"])
    assert done.status_code == 303 and wrong.status_code == 400
    assert [store.booking(b.reference).status for b in (came, absent)] == ["attended", "no_show"]  # type: ignore[union-attr]
    assert "Présence enregistrée." in page.text
    assert audit_actions(console.engine)[-2:] == ["appointment_presence", "appointment_presence"]


async def test_a_form_without_its_csrf_token_is_refused(console: Console) -> None:
    store, _, (booking, _) = seed(console)
    async with signed_in(console, ADMIN) as client:
        refused = await client.post(f"/rendez-vous/{booking.reference}/annuler", data={"csrf_token": "forged"})
        bare = await client.post(f"/rendez-vous/{booking.reference}/presence", data={"presence": "venu"})
    assert refused.status_code == 403 and bare.status_code == 403
    assert store.booking(booking.reference).status == "booked"  # type: ignore[union-attr]


async def test_an_agent_cannot_cancel_open_or_close_but_an_admin_can(console: Console) -> None:
    store, calendar_id, (booking, _) = seed(console)
    async with signed_in(console, AGENT) as client:
        cancel = await post(client, f"/rendez-vous/{booking.reference}/annuler")
        opening = await post(client, "/rendez-vous/ouvrir", service="etat_civil", motif="carte_identite")
        closing = await post(client, f"/rendez-vous/calendriers/{calendar_id}/fermeture", jour_ferme="2027-01-12",
                             motif="formation")  # fmt: skip
    assert {cancel.status_code, opening.status_code, closing.status_code} == {403}
    assert store.booking(booking.reference).status == "booked"  # type: ignore[union-attr]

    async with signed_in(console, ADMIN) as client:
        cancelled = await post(client, f"/rendez-vous/{booking.reference}/annuler", jour="2027-01-05")
        again = await post(client, f"/rendez-vous/{booking.reference}/annuler", jour="2027-01-05")
        page = await client.get(cancelled.headers["location"])
    assert cancelled.status_code == 303 and again.status_code == 404
    assert store.booking(booking.reference).status == "cancelled"  # type: ignore[union-attr]
    assert "le créneau est de nouveau libre" in page.text and "1 rendez-vous" in page.text
    assert "appointment_cancel" in audit_actions(console.engine)


async def test_an_admin_opens_slots_and_closes_a_day(console: Console) -> None:
    store, calendar_id, _ = seed(console)
    fields = {"service": "etat_civil", "motif": "carte_identite", "du": "2027-02-01", "au": "2027-02-28",
              "debut": "14:00", "fin": "17:00", "duree": "30", "guichets": "2", "jours": ["0", "3"]}  # fmt: skip
    async with signed_in(console, ADMIN) as client:
        opened = await post(client, "/rendez-vous/ouvrir", **fields)
        overlap = await post(client, "/rendez-vous/ouvrir", **fields)
        no_day = await post(client, "/rendez-vous/ouvrir", **{**fields, "jours": []})
        unknown = await post(client, "/rendez-vous/ouvrir", **{**fields, "service": "casino", "debut": "09:00",
                                                              "fin": "10:00"})  # fmt: skip
        closed = await post(client, f"/rendez-vous/calendriers/{calendar_id}/fermeture", jour_ferme="2027-01-12",
                            motif="formation des agents")  # fmt: skip
        page = await client.get("/rendez-vous")
    assert opened.status_code == 303
    assert overlap.status_code == 400 and "chevauchent une ouverture existante" in overlap.text
    assert no_day.status_code == 400 and "Cochez au moins un jour" in no_day.text
    assert unknown.status_code == 400 and "service inconnu « casino »" in unknown.text
    assert closed.status_code == 303
    assert "lundi, jeudi 14:00–17:00, créneaux de 30 min, 2 guichets" in page.text
    assert "Fermé le 12/01/2027 : formation des agents" in page.text
    calendar = store.calendar(calendar_id)
    assert calendar is not None and date(2027, 1, 12) in calendar.closed_days
    assert audit_actions(console.engine)[-2:] == ["appointment_open", "appointment_close_day"]


async def test_an_admin_stops_offering_an_opening_and_bookings_stay(console: Console) -> None:
    store, calendar_id, (booking, _) = seed(console)
    [opening] = store.calendar(calendar_id).openings  # type: ignore[union-attr]
    action = f"/rendez-vous/ouvertures/{opening.id}/supprimer"
    async with signed_in(console, AGENT) as client:
        assert (await post(client, action)).status_code == 403
    async with signed_in(console, ADMIN) as client:
        removed = await post(client, action)
        again = await post(client, action)
    assert removed.status_code == 303 and again.status_code == 404
    calendar = store.calendar(calendar_id)
    assert calendar is not None and calendar.openings == ()
    assert store.booking(booking.reference).status == "booked"  # type: ignore[union-attr]
    assert audit_actions(console.engine)[-1] == "appointment_remove_opening"
