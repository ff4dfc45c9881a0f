"""The report conversation: what each answer fills, danger first, duplicates, summary, creation, correction, cancel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.report_form import CANCEL_QUESTION, REPORT_SLOTS, ValidateReportForm
from actions.reports import (
    ActionReportCancel,
    ActionReportCreate,
    ActionReportEdit,
    ActionReportReview,
    ActionReportStart,
    edited_field,
)
from actions.tickets_access import TicketsAccess, open_services
from bot.db import create_engine_for
from bot.settings import ROOT
from bot.town.catalog import load_catalog
from bot.town.tickets import TicketDraft, TicketStore
from bot.town.tickets.model import RequestQuery

DOMAIN: dict[str, Any] = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
CHANNEL, SENDER = "telegram", "citizen-1"


@pytest.fixture
def store(tmp_path: Path) -> TicketStore:
    return TicketStore(create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}"))


@pytest.fixture
def access(store: TicketStore) -> TicketsAccess:
    return TicketsAccess(lambda: open_services(store, lambda: load_catalog(ROOT / "data" / "town")))


def tracker(
    text: str = "",
    intent: str = "inform",
    *,
    requested: str | None = None,
    slots: dict[str, Any] | None = None,
    entities: dict[str, str] | None = None,
    metadata: dict[str, Any] | None = None,
    previous_action: str | None = None,
    message_id: str = "m1",
    form_turn: bool = True,
) -> Tracker:
    """The tracker an action sees after the citizen's message (inside report_form's validation if `form_turn`)."""
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": [{"entity": k, "value": v} for k, v in (entities or {}).items()],
        "metadata": metadata or {},
        "message_id": message_id,
    }
    events: list[dict[str, Any]] = []
    if previous_action:
        events += [{"event": "action", "name": previous_action}, {"event": "action", "name": "action_listen"}]
    events.append({"event": "user", "text": text, "parse_data": latest, "input_channel": CHANNEL})
    if form_turn:
        events.append({"event": "action", "name": "report_form"})
    values = {slot: None for slot in REPORT_SLOTS} | {"requested_slot": requested} | (slots or {})
    loop = {"name": "report_form"} if form_turn else {}
    return Tracker(SENDER, values, latest, events, False, None, loop, "action_listen")


async def validate(access: TicketsAccess, t: Tracker) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run validate_report_form; the slots it sets and the messages it sends."""
    dispatcher = CollectingDispatcher()
    events = await ValidateReportForm(access).run(dispatcher, t, DOMAIN)
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}, dispatcher.messages


# --- what each answer fills -------------------------------------------------------------------------------------


async def test_report_message_fills_category_and_street_at_once(access: TicketsAccess) -> None:
    slots, _ = await validate(
        access,
        tracker(
            "nid de poule 12 rue serviez",
            "report_problem",
            entities={"problem_type": "voirie", "address": "12 rue serviez"},
        ),
    )
    assert slots["report_category"] == "voirie"
    assert (slots["report_location"], slots["report_street"]) == ("12 Rue Serviez", "Rue Serviez")


async def test_unknown_category_is_asked_again_with_buttons(access: TicketsAccess) -> None:
    slots, _ = await validate(access, tracker("c'est un truc bizarre", "inform", requested="report_category"))
    assert slots == {"report_category": None}  # the form asks utter_ask_report_category (buttons) again


async def test_category_button_is_taken(access: TicketsAccess) -> None:
    slots, _ = await validate(
        access,
        tracker(
            '/inform{"problem_type": "graffiti"}', requested="report_category", entities={"problem_type": "graffiti"}
        ),
    )
    assert slots == {"report_category": "graffiti"}


async def test_ambiguous_street_offers_did_you_mean_buttons(access: TicketsAccess) -> None:
    slots, messages = await validate(access, tracker("3 rue du marechal", requested="report_location"))
    assert slots == {"report_location": None}
    (message,) = messages
    assert message["response"] == "utter_report_street_choices"
    assert [b["title"] for b in message["buttons"]] == ["Rue du Maréchal Foch", "Rue du Maréchal Joffre"]
    assert message["buttons"][0]["payload"] == '/inform{"address": "3 Rue du Maréchal Foch"}'


async def test_landmark_in_free_text_is_kept_as_the_place(access: TicketsAccess) -> None:
    slots, _ = await validate(access, tracker("devant l'école du quartier", "inform", requested="report_location"))
    assert slots["report_location"] == "devant l'école du quartier"
    assert slots["report_street"] is None


async def test_telegram_position_is_kept_with_its_coordinates(access: TicketsAccess) -> None:
    position = {"location": {"lat": 43.29571, "lon": -0.36861}}
    slots, messages = await validate(
        access, tracker("Position partagée", requested="report_location", metadata=position)
    )
    assert (slots["report_lat"], slots["report_long"]) == (43.29571, -0.36861)
    assert slots["report_location"] == "43.29571, -0.36861"
    assert messages[0]["response"] == "utter_report_position_kept"  # the streets have no coordinates: said so


async def test_description_is_the_citizen_text(access: TicketsAccess) -> None:
    slots, _ = await validate(
        access, tracker("le trou fait 50 cm, dangereux pour les vélos", requested="report_description")
    )
    assert slots == {"report_description": "le trou fait 50 cm, dangereux pour les vélos"}


@pytest.mark.parametrize(
    ("metadata", "photo"),
    [
        ({"photo": {"file_id": "AgAC"}}, "telegram-file:AgAC"),
        ({"photo_url": "https://v.example/1.jpg"}, "https://v.example/1.jpg"),
    ],
)
async def test_photo_from_telegram_or_web_is_attached(access: TicketsAccess, metadata: dict, photo: str) -> None:
    slots, _ = await validate(access, tracker("Photo jointe", requested="report_photo", metadata=metadata))
    assert slots == {"report_photo": photo}


@pytest.mark.parametrize(("text", "intent"), [("non", "deny"), ("pas de photo", "inform")])
async def test_photo_can_be_skipped(access: TicketsAccess, text: str, intent: str) -> None:
    slots, _ = await validate(access, tracker(text, intent, requested="report_photo"))
    assert slots == {"report_photo": "none"}


async def test_contact_is_kept_server_side_and_only_its_masked_form_in_the_slot(access: TicketsAccess) -> None:
    slots, _ = await validate(access, tracker("06 12 34 56 78", "inform", requested="report_contact"))
    assert slots == {"report_contact": "06 •• •• •• 78", "report_contact_consent": None}  # consent asked next
    contacts = (await access.services()).contacts
    assert await contacts.get(CHANNEL, SENDER) == "+33612345678"


@pytest.mark.parametrize(("text", "intent", "consent"), [("oui", "affirm", "oui"), ("non merci", "deny", "non")])
async def test_consent_to_updates_at_the_contact_is_asked_and_recorded(
    access: TicketsAccess, text: str, intent: str, consent: str
) -> None:
    given = {"report_contact": "06 •• •• •• 78"}
    slots, _ = await validate(access, tracker(text, intent, requested="report_contact_consent", slots=given))
    assert slots == {"report_contact_consent": consent}


async def test_an_unclear_answer_to_the_consent_question_asks_it_again(access: TicketsAccess) -> None:
    given = {"report_contact": "06 •• •• •• 78"}
    slots, _ = await validate(access, tracker("peut-être", "inform", requested="report_contact_consent", slots=given))
    assert slots == {"report_contact_consent": None}


def test_the_consent_question_is_clear_and_offers_yes_and_no() -> None:
    [question] = DOMAIN["responses"]["utter_ask_report_contact_consent"]
    assert "l'avancement de ce signalement à ce contact" in question["text"] and "arrêter" in question["text"]
    assert [b["payload"] for b in question["buttons"]] == ["/affirm", "/deny"]
    assert "report_contact_consent" in DOMAIN["forms"]["report_form"]["required_slots"]


async def test_invalid_contact_is_refused_and_asked_again(access: TicketsAccess) -> None:
    slots, messages = await validate(access, tracker("06 12", "inform", requested="report_contact"))
    assert slots == {"report_contact": None}
    assert [m["response"] for m in messages] == ["utter_report_contact_invalid"]


async def test_contact_can_be_declined(access: TicketsAccess) -> None:
    slots, _ = await validate(access, tracker("pas besoin", "deny", requested="report_contact"))
    assert slots == {"report_contact": "none", "report_contact_consent": "none"}  # nothing to consent to


# --- what the form leaves to the rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "intent", "requested"),
    [
        ("la mairie ouvre a quelle heure", "ask_opening_hours", "report_description"),
        ("c'est ouvert samedi la decheterie ?", "ask_opening_hours", "report_location"),
        ("quels sont les horaires de la piscine", "ask_opening_hours", "report_photo"),
        ("vous etes un robot ?", "bot_challenge", "report_location"),
        ("aide", "help", "report_photo"),
        ("", "EXTERNAL_ticket_update", "report_contact"),
        ("non", "deny", "report_location"),  # a no to a required question: the rules ask whether to abandon
    ],
)
async def test_question_in_the_middle_is_left_to_the_rules(
    access: TicketsAccess, text: str, intent: str, requested: str
) -> None:
    slots, messages = await validate(access, tracker(text, intent, requested=requested))
    assert (slots, messages) == ({}, [])  # nothing set: the form is rejected, a rule answers, the form resumes


@pytest.mark.parametrize("intent", ["affirm", "deny"])
async def test_answer_to_abandon_question_is_left_to_the_rules(access: TicketsAccess, intent: str) -> None:
    t = tracker("oui", intent, requested="report_photo", previous_action=CANCEL_QUESTION)
    assert await validate(access, t) == ({}, [])


# --- danger first -------------------------------------------------------------------------------------------------


async def test_danger_gets_the_emergency_numbers_before_anything_else(access: TicketsAccess) -> None:
    slots, messages = await validate(
        access,
        tracker(
            "ça sent le gaz rue gassion", "report_problem", entities={"problem_type": "autre", "address": "rue gassion"}
        ),
    )
    assert messages[0]["response"] == "utter_report_danger"
    assert slots["report_danger_warned"] is True
    assert slots["report_category"] == "autre" and slots["report_street"] == "Rue Gassion"


async def test_emergency_numbers_are_given_once_per_report(access: TicketsAccess) -> None:
    t = tracker("le gaz sent encore plus", requested="report_description", slots={"report_danger_warned": True})
    slots, messages = await validate(access, t)
    assert messages == []
    assert slots == {"report_description": "le gaz sent encore plus"}


def test_emergency_message_gives_112_18_and_the_gas_line() -> None:
    text = DOMAIN["responses"]["utter_report_danger"][0]["text"]
    assert all(number in text for number in ("112", "18", "0 800 47 33 33"))


# --- after the form -----------------------------------------------------------------------------------------------

COMPLETE = {
    "report_category": "voirie",
    "report_location": "12 Rue Serviez",
    "report_street": "Rue Serviez",
    "report_description": "gros trou",
    "report_photo": "none",
    "report_contact": "06 •• •• •• 78",
}


async def run(action: Any, t: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, DOMAIN)
    return events, dispatcher.messages


async def test_complete_report_is_summarised_for_confirmation(access: TicketsAccess) -> None:
    events, messages = await run(ActionReportReview(access), tracker("non", "deny", slots=COMPLETE, form_turn=False))
    (summary,) = messages
    assert summary["response"] == "utter_report_summary"
    assert summary["category"].startswith("Voirie")
    assert (summary["location"], summary["photo"], summary["contact"]) == ("12 Rue Serviez", "aucune", "06 •• •• •• 78")
    assert SlotSet("report_stage", "summary") in events


async def test_similar_open_ticket_on_the_same_street_is_offered_first(
    access: TicketsAccess, store: TicketStore
) -> None:
    await access.services()
    existing = store.create_ticket(TicketDraft("voirie", address="3 rue serviez", channel="sms", sender_id="other"))
    events, messages = await run(ActionReportReview(access), tracker("", "deny", slots=COMPLETE, form_turn=False))
    assert messages == [dict(messages[0], response="utter_report_duplicate", ticket_ref=existing.ref)]
    assert SlotSet("report_stage", "duplicate") in events and SlotSet("report_duplicate", existing.ref) in events


async def test_citizen_who_says_it_is_another_problem_gets_the_summary(
    access: TicketsAccess, store: TicketStore
) -> None:
    await access.services()
    store.create_ticket(TicketDraft("voirie", address="rue serviez", channel="sms", sender_id="other"))
    t = tracker("non", "deny", slots=COMPLETE | {"report_stage": "duplicate"}, form_turn=False)
    _, messages = await run(ActionReportReview(access), t)
    assert [m["response"] for m in messages] == ["utter_report_summary"]


async def test_confirmed_report_becomes_one_ticket_with_channel_sender_and_contact(
    access: TicketsAccess, store: TicketStore
) -> None:
    await (await access.services()).contacts.put(CHANNEL, SENDER, "+33612345678")
    confirm = tracker("oui", "affirm", slots=COMPLETE | {"report_stage": "summary"}, form_turn=False, message_id="m7")
    events, messages = await run(ActionReportCreate(access), confirm)
    (created,) = messages
    ticket = store.get_ticket(created["ticket_ref"])
    assert ticket is not None
    assert (ticket.service_code, ticket.address, ticket.description) == ("voirie", "12 Rue Serviez", "gros trou")
    assert (ticket.channel, ticket.sender_id, ticket.contact) == (CHANNEL, SENDER, "+33612345678")
    assert SlotSet("ticket_ref", ticket.ref) in events and SlotSet("report_stage", None) in events
    assert await (await access.services()).contacts.get(CHANNEL, SENDER) is None

    assert store.contact_consented(ticket) is False  # COMPLETE never said « oui » to updates at the contact

    # The same confirmation delivered again (a retried turn) gives the same ticket.
    _, again = await run(ActionReportCreate(access), confirm)
    assert again[0]["ticket_ref"] == ticket.ref


@pytest.mark.parametrize(("warned", "priority"), [(True, "urgent"), (None, "normal")])
async def test_a_report_that_got_the_emergency_numbers_becomes_an_urgent_ticket(
    access: TicketsAccess, store: TicketStore, warned: bool | None, priority: str
) -> None:
    # The danger was told in an earlier message (« ça sent le gaz »); the description alone says nothing of it.
    slots = COMPLETE | {"report_stage": "summary", "report_danger_warned": warned}
    _, messages = await run(ActionReportCreate(access), tracker("oui", "affirm", slots=slots, form_turn=False))
    ticket = store.get_ticket(messages[0]["ticket_ref"])
    assert ticket is not None and ticket.priority == priority


def confirmation_after_summary(*confirmations: str) -> Tracker:
    """The tracker of a « oui » whose summary was shown after message m5, the citizen having said « oui » before."""
    t = tracker("oui", "affirm", slots=COMPLETE | {"report_stage": "summary"}, form_turn=False,
                message_id=confirmations[-1])  # fmt: skip
    t.events[:0] = [
        {"event": "user", "text": "non", "message_id": "m5"},
        {"event": "action", "name": "action_report_review"},
        {"event": "slot", "name": "report_stage", "value": "summary"},
        *({"event": "user", "text": "oui", "message_id": m} for m in confirmations[:-1]),
    ]
    t.events[-1]["message_id"] = confirmations[-1]
    return t


async def test_oui_said_again_after_an_unavailable_answer_gives_the_ticket_already_created(
    access: TicketsAccess, store: TicketStore
) -> None:
    # The first « oui » was recorded by a slow action server after the rasa server had given up: its events were
    # dropped, the summary is still up, and the citizen confirms again in a new message.
    _, first = await run(ActionReportCreate(access), confirmation_after_summary("m6"))
    _, again = await run(ActionReportCreate(access), confirmation_after_summary("m6", "m7"))
    assert again[0]["ticket_ref"] == first[0]["ticket_ref"]
    assert len(store.list_requests(RequestQuery())) == 1


async def test_a_report_whose_citizen_said_yes_records_the_consent_with_the_contact(
    access: TicketsAccess, store: TicketStore
) -> None:
    await (await access.services()).contacts.put(CHANNEL, SENDER, "jeanne@exemple.fr")
    slots = COMPLETE | {"report_contact": "j•••@exemple.fr", "report_contact_consent": "oui", "report_stage": "summary"}
    _, messages = await run(ActionReportCreate(access), tracker("oui", "affirm", slots=slots, form_turn=False))
    ticket = store.get_ticket(messages[0]["ticket_ref"])
    assert ticket is not None and ticket.contact == "jeanne@exemple.fr"
    assert store.contact_consented(ticket) is True


async def test_report_located_by_position_only_keeps_coordinates(access: TicketsAccess, store: TicketStore) -> None:
    slots = COMPLETE | {
        "report_location": "43.29571, -0.36861",
        "report_street": None,
        "report_lat": 43.29571,
        "report_long": -0.36861,
    }
    _, messages = await run(ActionReportCreate(access), tracker("oui", "affirm", slots=slots, form_turn=False))
    ticket = store.get_ticket(messages[0]["ticket_ref"])
    assert ticket is not None and (ticket.lat, ticket.long, ticket.address) == (43.29571, -0.36861, None)


@pytest.mark.parametrize(
    ("value", "text", "field"),
    [("location", "", "location"), (None, "l'adresse", "location"), (None, "la photo", "photo"),
     (None, "mon numero de tel", "contact"), (None, "le type de probleme", "category"), (None, "euh", None)],
)  # fmt: skip
def test_part_to_correct_is_read_from_the_button_or_the_words(value: str | None, text: str, field: str | None) -> None:
    assert edited_field(value, text) == field


async def test_chosen_part_is_emptied_so_the_form_asks_it_again(access: TicketsAccess) -> None:
    t = tracker(
        "",
        "inform",
        slots=COMPLETE | {"report_stage": "correcting"},
        entities={"report_edit": "location"},
        form_turn=False,
    )
    events, _ = await run(ActionReportEdit(access), t)
    emptied = {e["name"] for e in events if e["event"] == "slot" and e["value"] is None}
    assert {"report_location", "report_street", "report_lat", "report_long"} <= emptied
    assert SlotSet("report_stage", "editing") in events


async def test_unclear_correction_shows_the_menu_again(access: TicketsAccess) -> None:
    t = tracker("euh", "nlu_fallback", slots=COMPLETE | {"report_stage": "correcting"}, form_turn=False)
    events, messages = await run(ActionReportEdit(access), t)
    assert [m["response"] for m in messages] == ["utter_report_edit_unknown", "utter_report_correct_menu"]
    assert events == [SlotSet("report_stage", "correcting")]


async def test_cancelled_report_forgets_everything(access: TicketsAccess, store: TicketStore) -> None:
    await (await access.services()).contacts.put(CHANNEL, SENDER, "+33612345678")
    events, messages = await run(ActionReportCancel(access), tracker("oui", "affirm", slots=COMPLETE))
    assert [m["response"] for m in messages] == ["utter_report_cancelled"]
    assert ActiveLoop(None) in events and SlotSet("report_category", None) in events
    assert await (await access.services()).contacts.get(CHANNEL, SENDER) is None
    assert store.tickets_of(CHANNEL, SENDER) == []


async def test_new_report_starts_from_nothing(access: TicketsAccess) -> None:
    events, _ = await run(
        ActionReportStart(access), tracker("signaler", "report_problem", slots=COMPLETE, form_turn=False)
    )
    assert all(SlotSet(slot, None) in events for slot in COMPLETE)


async def test_position_shared_while_describing_becomes_the_place(access: TicketsAccess) -> None:
    t = tracker(
        "Position partagée",
        requested="report_description",
        slots={"report_location": "rue serviez", "report_street": "Rue Serviez"},
        metadata={"location": {"lat": 43.2948, "lon": -0.3717}},
    )
    slots, _ = await validate(access, t)
    assert (slots["report_lat"], slots["report_long"], slots["report_street"]) == (43.2948, -0.3717, None)
    assert "report_description" not in slots  # "Position partagée" is not a description


async def test_similar_ticket_declined_once_is_not_offered_again_after_a_correction(
    access: TicketsAccess, store: TicketStore
) -> None:
    await access.services()
    existing = store.create_ticket(TicketDraft("voirie", address="rue serviez", channel="sms", sender_id="other"))
    slots = COMPLETE | {"report_stage": "editing", "report_duplicate": existing.ref}
    _, messages = await run(ActionReportReview(access), tracker("gros trou", "inform", slots=slots, form_turn=False))
    assert [m["response"] for m in messages] == ["utter_report_summary"]


@pytest.mark.parametrize(
    ("text", "intent", "requested", "slot"),
    [
        ("le trou grandit chaque jour", "ask_waste_collection", "report_description", "report_description"),
        ("a cote de la piscine", "ask_service_location", "report_location", "report_location"),
    ],
)
async def test_free_text_answer_that_is_no_question_is_kept_whatever_the_intent(
    access: TicketsAccess, text: str, intent: str, requested: str, slot: str
) -> None:
    slots, _ = await validate(access, tracker(text, intent, requested=requested))
    assert slots[slot] == text
