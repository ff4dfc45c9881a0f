"""Ticket follow-up: by reference (tolerant), « mes signalements », others' tickets show their status only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.followup import ActionReportFollowDuplicate, ActionTicketStatus
from actions.tickets_access import TicketsAccess, open_services
from bot.db import create_engine_for
from bot.settings import ROOT
from bot.town.catalog import load_catalog
from bot.town.tickets import OutboxStore, Ticket, TicketDraft, TicketStore

CHANNEL, SENDER = "sms", "citizen-7"


@pytest.fixture
def store(tmp_path: Path) -> TicketStore:
    return TicketStore(create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}"))


@pytest.fixture
async def access(store: TicketStore) -> TicketsAccess:
    access = TicketsAccess(lambda: open_services(store, lambda: load_catalog(ROOT / "data" / "town")))
    await access.services()  # tables created
    return access


def report(store: TicketStore, sender: str = SENDER, code: str = "voirie", **values: Any) -> Ticket:
    draft = TicketDraft(
        code, description="gros trou", address="12 Rue Serviez", channel=CHANNEL, sender_id=sender, **values
    )
    return store.create_ticket(draft)


def tracker(text: str, *, ref_entity: str | None = None, slots: dict[str, Any] | None = None) -> Tracker:
    entities = [{"entity": "ticket_ref", "value": ref_entity}] if ref_entity else []
    latest = {"text": text, "intent": {"name": "ask_ticket_status"}, "entities": entities}
    events = [{"event": "user", "text": text, "parse_data": latest, "input_channel": CHANNEL}]
    return Tracker(SENDER, slots or {}, latest, events, False, None, {}, "action_listen")


async def ask(
    access: TicketsAccess, t: Tracker, action: Any = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await (action or ActionTicketStatus(access)).run(dispatcher, t, {})
    return events, dispatcher.messages


@pytest.mark.parametrize("typed", ["{ref}", "{lower}", "{spaced}", "{glued}"])
async def test_citizen_gets_the_status_of_their_ticket_typed_loosely(
    access: TicketsAccess, store: TicketStore, typed: str
) -> None:
    ticket = report(store)
    store.set_status(ticket.ref, "pris_en_charge", note="Équipe prévue lundi")
    text = "où en est " + typed.format(
        ref=ticket.ref, lower=ticket.ref.lower(), spaced=ticket.ref.replace("-", " "), glued=ticket.ref.replace("-", "")
    )
    events, messages = await ask(access, tracker(text))
    (answer,) = messages
    assert answer["response"] == "utter_ticket_status_pris_en_charge"
    assert answer["ticket_ref"] == ticket.ref
    assert answer["about"] == " (Voirie, 12 Rue Serviez)"
    assert answer["note"] == " Équipe prévue lundi"
    assert events == [SlotSet("ticket_ref", ticket.ref)]


async def test_someone_elses_ticket_reveals_its_status_only(access: TicketsAccess, store: TicketStore) -> None:
    ticket = report(store, sender="someone-else", contact="+33612345678")
    _, messages = await ask(access, tracker(f"ou en est {ticket.ref}", ref_entity=ticket.ref))
    status, notice = messages
    assert status["response"] == "utter_ticket_status_nouveau"
    assert (status["about"], status["note"]) == ("", "")
    assert "gros trou" not in str(messages) and "Serviez" not in str(messages) and "+336" not in str(messages)
    assert notice["response"] == "utter_ticket_status_only_notice"


async def test_rejected_ticket_gives_its_reason(access: TicketsAccess, store: TicketStore) -> None:
    ticket = report(store)
    store.set_status(ticket.ref, "non_retenu", reason="Voie privée, hors compétence de la Ville")
    _, messages = await ask(access, tracker(ticket.ref))
    assert messages[0]["response"] == "utter_ticket_status_non_retenu"
    assert messages[0]["reason"] == "Voie privée, hors compétence de la Ville"


async def test_unknown_reference_gets_a_clear_answer(access: TicketsAccess) -> None:
    events, messages = await ask(access, tracker("ou en est PAU-2026-009999"))
    assert messages == [dict(messages[0], response="utter_ticket_unknown", ticket_ref="PAU-2026-009999")]
    assert events == [SlotSet("ticket_ref", None)]


async def test_citizen_without_tickets_is_told_so(access: TicketsAccess, store: TicketStore) -> None:
    report(store, sender="someone-else")
    _, messages = await ask(access, tracker("mes signalements"))
    assert [m["response"] for m in messages] == ["utter_ticket_none"]


async def test_my_reports_lists_the_tickets_of_this_channel_identity(access: TicketsAccess, store: TicketStore) -> None:
    first = report(store)
    second = report(store, code="eclairage_public")
    report(store, sender="someone-else")
    _, messages = await ask(access, tracker("mes signalements"))
    intro, *listed = messages
    assert (intro["response"], intro["count"]) == ("utter_ticket_list_intro", 2)
    assert [m["ticket_ref"] for m in listed] == [second.ref, first.ref]


async def test_citizen_follows_a_similar_ticket_and_will_hear_of_it(access: TicketsAccess, store: TicketStore) -> None:
    ticket = report(store, sender="first-reporter")
    t = tracker("oui", slots={"report_duplicate": ticket.ref, "report_stage": "duplicate"})
    events, messages = await ask(access, t, ActionReportFollowDuplicate(access))
    assert messages[0]["response"] == "utter_report_following" and messages[0]["ticket_ref"] == ticket.ref
    assert SlotSet("ticket_ref", ticket.ref) in events and SlotSet("report_stage", None) in events
    assert [t.ref for t in store.tickets_of(CHANNEL, SENDER)] == [ticket.ref]

    # Following makes the status change reach this citizen too, and shows them the whole ticket.
    store.set_status(ticket.ref, "traite", note="Réparé")
    notified = {(job.channel, job.recipient) for job in OutboxStore(store.engine).jobs(kind="ticket_update")}
    assert (CHANNEL, SENDER) in notified
    _, follower_view = await ask(access, tracker(ticket.ref))
    assert follower_view[0]["about"] == " (Voirie, 12 Rue Serviez)"
