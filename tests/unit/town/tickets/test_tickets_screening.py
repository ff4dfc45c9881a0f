"""What a ticket stores, whatever the way in: masked descriptions, the contact kept apart, only the town's photos."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.db import create_engine_for
from bot.town.handoff import callback_draft
from bot.town.media import MediaStore
from bot.town.tickets import TicketDraft, TicketStore, create_schema
from tests.photos import image_bytes

WRITTEN = "Lampadaire tombé, joignable au 06 12 34 56 78, mon numéro de sécu 2 91 11 33 063 042 17"


@pytest.fixture
def store(tmp_path: Path) -> TicketStore:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    create_schema(engine)
    return TicketStore(engine, media=MediaStore(tmp_path / "media"))


DRAFTS = {
    "conversation report": TicketDraft(
        "eclairage_public", WRITTEN, "Rue Carnot", channel="webchat", sender_id="webchat:1"
    ),
    "call-back": replace(
        callback_draft("sms", "sms:abc", "callback:1", phone="+33600000000", question="", expected=None),
        description=WRITTEN,
        contact=None,
    ),
    "open311": TicketDraft("eclairage_public", WRITTEN, "Rue Carnot", channel="open311", subscribe_creator=False),
}


@pytest.mark.parametrize("way_in", DRAFTS)
def test_a_phone_number_written_in_the_text_becomes_the_contact_and_is_masked(store: TicketStore, way_in: str) -> None:
    ticket = store.create_ticket(DRAFTS[way_in])

    assert ticket.description == (
        "Lampadaire tombé, joignable au [téléphone masqué], mon numéro de sécu [n° de sécurité sociale masqué]"
    )
    assert ticket.contact == "+33612345678"
    assert store.get_ticket(ticket.ref).description == ticket.description  # type: ignore[union-attr]


def test_a_contact_already_given_is_kept_and_the_text_still_masked(store: TicketStore) -> None:
    ticket = store.create_ticket(replace(DRAFTS["conversation report"], contact="jeanne@example.org"))

    assert ticket.contact == "jeanne@example.org" and "06 12" not in ticket.description


def test_a_ticket_reference_in_the_text_is_not_masked(store: TicketStore) -> None:
    ticket = store.create_ticket(replace(DRAFTS["open311"], description="Même problème que PAU-2026-000123"))

    assert ticket.description == "Même problème que PAU-2026-000123" and ticket.contact is None


def test_only_photos_of_the_town_store_or_telegram_files_are_kept(store: TicketStore) -> None:
    assert store.media is not None
    name = store.media.save(image_bytes("JPEG"))
    draft = DRAFTS["conversation report"]

    ours = store.create_ticket(replace(draft, media_url=f"http://127.0.0.1:5005/webhooks/webchat/upload/{name}?x=1"))
    telegram = store.create_ticket(replace(draft, media_url="telegram-file:AgACAgQ"))
    foreign = store.create_ticket(replace(draft, media_url="https://tracker.example.com/pixel.jpg"))

    assert ours.media_url == f"media:{name}"
    assert telegram.media_url == "telegram-file:AgACAgQ"
    assert foreign.media_url is None
