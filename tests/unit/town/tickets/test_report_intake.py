"""What a report conversation receives: contacts, shared positions and photos, house numbers, pending contacts."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from bot.db import create_engine_for
from bot.town.privacy import find_personal_data
from bot.town.tickets.drafts import PendingContacts, create_drafts_schema
from bot.town.tickets.intake import (
    house_number,
    is_skip,
    nearest_street,
    parse_contact,
    shared_location,
    shared_photo,
)


@pytest.mark.parametrize(
    ("text", "kind", "value", "masked"),
    [
        ("06 12 34 56 78", "phone", "+33612345678", "06 •• •• •• 78"),
        ("mon num c 0612345678 merci", "phone", "+33612345678", "06 •• •• •• 78"),
        ("+33 5 36 49 12 00", "phone", "+33536491200", "05 •• •• •• 00"),
        ("+44 20 7946 0958", "phone", "+442079460958", "+44 •• •••• ••58"),
        ("jean.dupont@exemple.fr", "email", "jean.dupont@exemple.fr", "j•••@exemple.fr"),
        ("écrivez à Marie.Curie@Labo.FR svp", "email", "marie.curie@labo.fr", "m•••@labo.fr"),
    ],
)
def test_citizen_contact_is_validated_and_shown_masked(text: str, kind: str, value: str, masked: str) -> None:
    contact = parse_contact(text)
    assert contact is not None
    assert (contact.kind, contact.value) == (kind, value)
    assert contact.masked == masked
    assert find_personal_data(contact.masked) == []  # the display is safe to keep in the conversation log


@pytest.mark.parametrize("text", ["non", "12 rue serviez", "06 12", "0000000000", "jean@", "PAU-2026-000123", ""])
def test_what_is_not_a_contact_is_refused(text: str) -> None:
    assert parse_contact(text) is None


@pytest.mark.parametrize(
    ("text", "skips"),
    [("non", True), ("Non merci", True), ("pas besoin", True), ("aucune", True), ("pas de photo", True),
     ("je reste anonyme", False), ("oui", False), ("06 12 34 56 78", False)],
)  # fmt: skip
def test_citizen_declining_an_optional_step_is_understood(text: str, skips: bool) -> None:
    assert is_skip(text) is skips


@pytest.mark.parametrize(
    ("address", "number"),
    [("12 rue Serviez", "12"), ("3 bis rue Carnot", "3 bis"), ("3, rue Tran", "3"), ("rue Tran", None)],
)
def test_house_number_is_read_from_the_address(address: str, number: str | None) -> None:
    assert house_number(address) == number


@pytest.mark.parametrize(
    ("metadata", "position"),
    [
        ({"location": {"lat": 43.2957, "lon": -0.3686}}, (43.2957, -0.3686)),
        ({"location": {"latitude": "43.2957", "longitude": "-0.3686"}}, (43.2957, -0.3686)),
        ({"location": {"lat": 143.0, "lon": 0.0}}, None),
        ({"location": "rue Serviez"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_shared_position_is_read_from_channel_metadata(metadata: dict | None, position: tuple | None) -> None:
    assert shared_location(metadata) == position


@pytest.mark.parametrize(
    ("metadata", "photo"),
    [
        ({"photo_url": "https://ville.example/u/1.jpg"}, "https://ville.example/u/1.jpg"),
        ({"photo": {"url": "https://ville.example/u/2.jpg"}}, "https://ville.example/u/2.jpg"),
        ({"photo": {"file_id": "AgACAgQ", "width": 800}}, "telegram-file:AgACAgQ"),
        (
            {"media": [{"url": "https://api.twilio.com/m/1", "content_type": "image/jpeg"}]},
            "https://api.twilio.com/m/1",
        ),
        ({"media": [{"url": "https://api.twilio.com/m/2", "content_type": "video/mp4"}]}, None),
        ({}, None),
    ],
)
def test_photo_is_read_from_web_telegram_or_mms_metadata(metadata: dict, photo: str | None) -> None:
    assert shared_photo(metadata) == photo


@dataclass
class PlacedStreet:
    name: str
    lat: float | None = None
    lon: float | None = None


def test_shared_position_is_named_after_the_nearest_street_that_has_coordinates() -> None:
    streets = [PlacedStreet("Rue Serviez", 43.2950, -0.3700), PlacedStreet("Place Royale", 43.2948, -0.3717)]
    nearest = nearest_street(streets, 43.2949, -0.3716)
    assert nearest is not None and nearest.name == "Place Royale"
    assert nearest_street(streets, 43.31, -0.35) is None  # too far from every street


def test_streets_without_coordinates_name_no_position() -> None:
    assert nearest_street([PlacedStreet("Rue Serviez")], 43.2950, -0.3700) is None


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


def test_pending_contact_waits_for_the_ticket_and_can_be_forgotten(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    create_drafts_schema(engine)
    clock = Clock()
    contacts = PendingContacts(engine, clock=clock)

    contacts.put("telegram", "42", "+33612345678")
    contacts.put("telegram", "42", "jean@exemple.fr")  # a corrected contact replaces the first one
    assert contacts.get("telegram", "42") == "jean@exemple.fr"
    assert contacts.get("sms", "42") is None  # another channel identity

    contacts.discard("telegram", "42")
    assert contacts.get("telegram", "42") is None


def test_discarding_nothing_takes_no_write_lock(tmp_path: Path) -> None:
    """A report start with no pending contact does not wait for a writer (SQLite has one at a time)."""
    path = tmp_path / "guichet.db"
    engine = create_engine_for(f"sqlite:///{path}", busy_timeout_ms=100)
    create_drafts_schema(engine)
    contacts = PendingContacts(engine)
    contacts.put("web", "someone-else", "+33612345678")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process writing (the conversation store)
    try:
        started = time.monotonic()
        contacts.discard("web", "nobody")  # nothing to forget: read only, no wait
        assert time.monotonic() - started < 0.1
        with pytest.raises(OperationalError, match="locked"):
            contacts.discard("web", "someone-else")  # something to forget: a real write, which must wait
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    contacts.discard("web", "someone-else")
    assert contacts.get("web", "someone-else") is None


def test_pending_contact_of_an_abandoned_report_expires(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    create_drafts_schema(engine)
    clock = Clock()
    contacts = PendingContacts(engine, clock=clock)
    contacts.put("rest", "a", "+33612345678")

    clock.now += timedelta(days=2)
    assert contacts.get("rest", "a") is None
    assert contacts.purge() == 1
