"""`python -m bot appointments open|list`: staff open slots from the command line with French errors they can act
on, and print the day's list for the counter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.settings import ROOT, get_settings
from bot.town.appointments.store import appointment_store_from_settings
from bot.town.catalog.hours import PARIS

TOWN = ROOT / "data" / "town"
OPEN = ["appointments", "open", "mairie", "--reason", "passeport", "--from", "2027-01-04", "--to", "2027-01-31",
        "--days", "tue,thu", "--hours", "09:00-12:00", "--every", "20", "--desks", "2"]  # fmt: skip


@pytest.fixture()
def var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings pointing at an empty var/ directory (the embedded SQLite database) and the shipped town."""
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TOWN_DATA_DIR", str(TOWN))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("CLOCK_OVERRIDE", "2027-01-04T08:00:00")
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()


def test_staff_open_slots_and_they_are_offered(var: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(OPEN) == 0
    out = capsys.readouterr().out
    assert "slots opened: mairie (passeport) — mardi, jeudi 09:00–12:00, créneaux de 20 min, 2 guichets" in out
    assert "9 créneaux par jour ouvert" in out
    store = appointment_store_from_settings()
    [calendar] = store.calendars()
    slots = store.slots(calendar, date(2027, 1, 4), date(2027, 1, 10), closures=(),
                        now=datetime(2027, 1, 4, 8, tzinfo=PARIS))  # fmt: skip
    assert len(slots) == 18 and slots[0].start == datetime(2027, 1, 5, 9, tzinfo=PARIS)
    assert store.calendars()[0].service_id == "mairie"


@pytest.mark.parametrize(
    ("changes", "code", "message"),
    [
        ({"mairie": "mairi"}, 1, "service inconnu « mairi » (services : "),
        ({"passeport": "permis"}, 1, "motif inconnu « permis » (motifs : carte_identite, passeport,"),
        ({"2027-01-31": "2027-02-30"}, 2, "--to : « 2027-02-30 » n'est pas une date (AAAA-MM-JJ)"),
        ({"2027-01-04": "04/01/2027"}, 2, "--from : « 04/01/2027 » n'est pas une date"),
        ({"2027-01-31": "2026-12-31"}, 1, "--to 2026-12-31 précède --from 2027-01-04"),
        ({"tue,thu": "mardi,jedi"}, 2, "--days : jour inconnu « jed »"),
        ({"09:00-12:00": "9h-12h"}, 2, "--hours : « 9h-12h » n'est pas une plage HH:MM-HH:MM"),
        ({"20": "0"}, 1, "--every : entre 5 et 240 minutes"),
    ],
)
def test_wrong_options_get_a_french_error(
    var: Path, capsys: pytest.CaptureFixture[str], changes: dict[str, str], code: int, message: str
) -> None:
    argv = [changes.get(arg, arg) for arg in OPEN]
    assert main(argv) == code
    assert message in capsys.readouterr().err
    assert appointment_store_from_settings().calendars() == []  # nothing half-opened


def test_the_same_slots_cannot_be_opened_twice(var: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(OPEN) == 0
    assert main(OPEN) == 1
    assert "ces créneaux chevauchent une ouverture existante" in capsys.readouterr().err


def test_the_counter_lists_the_day(var: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(OPEN) == 0
    store = appointment_store_from_settings()
    calendar_id = store.calendars()[0].id
    now = datetime(2027, 1, 4, 8, tzinfo=PARIS)
    for hour, number in ((10, "AB12CD34EF"), (9, "ZZ99ZZ99ZZ")):
        store.book(calendar_id, datetime.combine(date(2027, 1, 5), time(hour), tzinfo=PARIS), application_id=number,
                   channel="sms", sender_id=f"sms:{number}", closures=(), now=now)  # fmt: skip
    capsys.readouterr()
    assert main(["appointments", "list", "--date", "2027-01-05"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Rendez-vous du 2027-01-05 : 2"
    assert lines[1].startswith("09:00  mairie") and "pré-demande ZZ99ZZ99ZZ" in lines[1] and "passeport" in lines[1]
    assert lines[2].startswith("10:00  mairie") and "guichet 1" in lines[2]
    assert main(["appointments", "list"]) == 0  # today by the town's clock: Monday 4th, none
    assert capsys.readouterr().out.strip() == "Rendez-vous du 2027-01-04 : 0"
    assert main(["appointments", "list", "--date", "demain"]) == 2
    assert "--date : « demain » n'est pas une date" in capsys.readouterr().err
