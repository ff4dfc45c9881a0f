"""A caller who says yes gets the reference by SMS: their SMS identity follows the ticket and one notification is
queued in the outbox, for the SMS channel, to the number that called."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db import create_engine_for
from bot.town.privacy.pseudonyms import sms_sender_id
from bot.town.tickets import TicketStore, create_schema
from bot.town.tickets.model import TicketDraft
from bot.town.tickets.schema import outbox
from connectors.shared.identities import MemoryIdentityStore
from connectors.voice.references import OutboxReferenceTexts, is_french_mobile

SECRET = b"identity-test-secret"
MOBILE = "+33612345678"
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("number", "mobile"),
    [("+33612345678", True), ("+33712345678", True), ("06 12 34 56 78", True), ("+33559012345", False),
     ("+447700900123", False), ("anonymous", False)],
)  # fmt: skip
def test_only_french_mobiles_are_offered_an_sms(number: str, mobile: bool) -> None:
    assert is_french_mobile(number) is mobile


async def test_the_reference_is_queued_by_sms_once_and_the_sms_identity_follows_the_ticket(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    create_schema(engine)
    store = TicketStore(engine, clock=lambda: NOW)
    ticket = store.create_ticket(
        TicketDraft("voirie", description="nid de poule", address="12 rue Serviez", channel="voice",
                    sender_id="voice:0123456789abcdef0123")
    )  # fmt: skip
    identities = MemoryIdentityStore()
    texts = OutboxReferenceTexts(store, identities, SECRET)
    await texts.send(ticket.ref, MOBILE)
    await texts.send(ticket.ref, MOBILE)  # a repeated « oui » queues nothing more
    sms_id = sms_sender_id(SECRET, MOBILE)
    assert identities.numbers == {sms_id: MOBILE}
    with store.engine.connect() as conn:
        jobs = conn.execute(select(outbox.c.channel, outbox.c.recipient, outbox.c.payload)).all()
    assert [(j.channel, j.recipient, j.payload["ticket_ref"], j.payload["ticket_state"]) for j in jobs] == [
        ("sms", sms_id, ticket.ref, "nouveau")
    ]
    assert [t.ref for t in store.tickets_of("sms", sms_id)] == [ticket.ref]
    assert store.status_for(ticket.ref, "sms", sms_id) is not None
