"""The report conversation around its form: start, duplicate check and summary, creation, correction, cancel."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.report_form import CONSENT_SLOT, FORM_SLOTS, LOCATION_SLOTS, NONE, REPORT_SLOTS, YES, Turn, identity
from actions.tickets_access import TicketsAccess, tickets_access
from bot.town.tickets import PROBLEM_TYPES, TicketDraft
from bot.town.tickets.danger import fold

logger = logging.getLogger(__name__)

# What each choice of the correction menu empties, so the form asks it again.
EDITABLE: dict[str, tuple[str, ...]] = {
    "category": ("report_category",),
    "location": LOCATION_SLOTS,
    "description": ("report_description",),
    "photo": ("report_photo",),
    "contact": ("report_contact", CONSENT_SLOT),
}
# Words that name a field when the citizen types the correction instead of pressing a button.
_FIELD_WORDS: dict[str, tuple[str, ...]] = {
    "category": ("type", "categorie", "genre", "sorte"),
    "location": ("lieu", "adresse", "rue", "endroit", "position", "emplacement", "localisation"),
    "description": ("description", "descriptif", "texte", "detail", "details"),
    "photo": ("photo", "image", "piece jointe"),
    "contact": ("contact", "telephone", "tel", "numero", "mail", "email", "courriel", "coordonnees"),
}


def edited_field(entity_value: str | None, text: str) -> str | None:
    """Which part of the report the citizen wants to correct: the button's value, or a word of their message."""
    if entity_value in EDITABLE:
        return entity_value
    words = f" {fold(text)} "
    for field, names in _FIELD_WORDS.items():
        if any(f" {name} " in words for name in names):
            return field
    return None


def response_text(domain: dict[str, Any], name: str) -> str:
    """The text of a domain response (its first variant), for words shown inside another response."""
    return str(domain["responses"][name][0]["text"])


def reset_report() -> list[EventType]:
    """Events that forget the report in progress."""
    return [SlotSet(slot, None) for slot in REPORT_SLOTS]


def forget_catalog_topic(domain: dict[str, Any]) -> list[EventType]:
    """Ends a catalog follow-up (issue 3), so its rules do not take the report's answers."""
    return [SlotSet("catalog_topic", None)] if "catalog_topic" in (domain.get("slots") or {}) else []


def short_category(code: str | None) -> str:
    """The category's name without its examples ("Voirie (nids-de-poule, ...)" -> "Voirie")."""
    return PROBLEM_TYPES.get(code or "", code or "").split(" (")[0]


class ActionReportStart(Action):
    """Starts a report afresh: nothing of an earlier, unfinished one is reused."""

    def __init__(self, access: TicketsAccess | None = None) -> None:
        self._access = access

    def name(self) -> str:
        return "action_report_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        services = await (self._access or tickets_access()).services()
        await services.contacts.discard(*identity(tracker))
        return [*reset_report(), SlotSet("requested_slot", None), *forget_catalog_topic(domain)]


class ActionReportReview(Action):
    """After the form: offers a similar open ticket to follow, or shows the summary to confirm."""

    def __init__(self, access: TicketsAccess | None = None) -> None:
        self._access = access

    def name(self) -> str:
        return "action_report_review"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        offered = tracker.get_slot("report_duplicate")  # the similar ticket offered earlier, if any
        if tracker.get_slot("report_stage") != "duplicate" or Turn.of(tracker).intent != "deny":
            ref = await self._similar_open_ticket(tracker, declined=offered)
            if ref is not None:
                dispatcher.utter_message(response="utter_report_duplicate", ticket_ref=ref)
                return [
                    SlotSet("report_stage", "duplicate"),
                    SlotSet("report_duplicate", ref),
                    *forget_catalog_topic(domain),
                ]
        photo, contact = tracker.get_slot("report_photo"), tracker.get_slot("report_contact")
        dispatcher.utter_message(
            response="utter_report_summary",
            category=PROBLEM_TYPES.get(tracker.get_slot("report_category") or "", ""),
            location=tracker.get_slot("report_location") or "",
            description=tracker.get_slot("report_description") or "",
            photo=response_text(
                domain, "utter_report_label_no_photo" if photo in (None, NONE) else "utter_report_label_photo_attached"
            ),
            contact=contact if contact not in (None, NONE) else response_text(domain, "utter_report_label_no_contact"),
        )
        return [SlotSet("report_stage", "summary"), *forget_catalog_topic(domain)]

    async def _similar_open_ticket(self, tracker: Tracker, *, declined: str | None) -> str | None:
        """The closest similar open ticket, except the one the citizen already said was another problem."""
        services = await (self._access or tickets_access()).services()
        lat, long = tracker.get_slot("report_lat"), tracker.get_slot("report_long")
        street = tracker.get_slot("report_street") or (tracker.get_slot("report_location") if lat is None else None)
        candidates = await services.tickets.find_duplicates(
            tracker.get_slot("report_category") or "", lat=lat, long=long, street=street
        )
        refs = [c.ticket.ref for c in candidates if c.ticket.ref != declined]
        return refs[0] if refs else None


def summary_turn(tracker: Tracker) -> str | None:
    """The id of the citizen message after which the report's summary was last shown (else the latest message's).

    Every « oui » to one summary is the same report: a citizen who confirms again after « momentanément
    indisponible », while the first confirmation was in fact recorded by a slow action server, gets the same ticket.
    A corrected report is summarised again, after another message, and so becomes another ticket.
    """
    message_id, shown = None, None
    for event in tracker.events:
        if event.get("event") == "user":
            message_id = event.get("message_id") or (event.get("parse_data") or {}).get("message_id")
        elif event.get("event") == "slot" and event.get("name") == "report_stage" and event.get("value") == "summary":
            shown = message_id
    return shown or (tracker.latest_message or {}).get("message_id") or None


class ActionReportCreate(Action):
    """Creates the ticket once per confirmed summary (a retried turn returns the same one) and gives its reference."""

    def __init__(self, access: TicketsAccess | None = None) -> None:
        self._access = access

    def name(self) -> str:
        return "action_report_create"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        services = await (self._access or tickets_access()).services()
        channel, sender_id = identity(tracker)
        draft = self.draft(tracker, contact=await services.contacts.get(channel, sender_id))
        if draft is None:
            dispatcher.utter_message(response="utter_report_cancelled")
            return reset_report()
        try:
            ticket = await services.tickets.create_ticket(draft)
        except Exception:
            logger.exception("Report of %s could not be stored", sender_id)
            dispatcher.utter_message(response="utter_report_failed")
            return [SlotSet("report_stage", "summary")]  # a new « oui » tries again
        await services.contacts.discard(channel, sender_id)
        dispatcher.utter_message(response="utter_report_created", ticket_ref=ticket.ref)
        return [*reset_report(), SlotSet("ticket_ref", ticket.ref)]

    @staticmethod
    def draft(tracker: Tracker, *, contact: str | None) -> TicketDraft | None:
        """The ticket the slots describe, keyed by the summary it confirms; None if the report is incomplete."""
        slots = {name: tracker.get_slot(name) for name in (*FORM_SLOTS, *LOCATION_SLOTS)}
        if slots["report_category"] not in PROBLEM_TYPES or not slots["report_location"]:
            return None
        channel, sender_id = identity(tracker)
        turn = summary_turn(tracker)
        lat, long = slots["report_lat"], slots["report_long"]
        only_coordinates = lat is not None and not slots["report_street"]
        return TicketDraft(
            service_code=slots["report_category"],
            description=slots["report_description"] or "",
            address=None if only_coordinates else slots["report_location"],
            street=slots["report_street"],
            lat=lat,
            long=long if lat is not None else None,
            media_url=None if slots["report_photo"] in (None, NONE) else slots["report_photo"],
            channel=channel,
            sender_id=sender_id,
            contact=contact,
            contact_consent=bool(contact) and tracker.get_slot(CONSENT_SLOT) == YES,
            idempotency_key=f"report:{channel}:{sender_id}:{turn}" if turn else None,
            urgent=bool(tracker.get_slot("report_danger_warned")),  # the danger may be in another message
        )


class ActionReportCorrectMenu(Action):
    """Asks which part of the report to correct (or to cancel it)."""

    def name(self) -> str:
        return "action_report_correct_menu"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(response="utter_report_correct_menu")
        return [SlotSet("report_stage", "correcting")]


class ActionReportEdit(Action):
    """Empties the part chosen in the correction menu so the form asks it again."""

    def __init__(self, access: TicketsAccess | None = None) -> None:
        self._access = access

    def name(self) -> str:
        return "action_report_edit"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        turn = Turn.of(tracker)
        field = edited_field(turn.entity("report_edit"), turn.text)
        if field is None:
            dispatcher.utter_message(response="utter_report_edit_unknown")
            dispatcher.utter_message(response="utter_report_correct_menu")
            return [SlotSet("report_stage", "correcting")]
        if field == "contact":
            services = await (self._access or tickets_access()).services()
            await services.contacts.discard(*identity(tracker))
        return [
            *(SlotSet(slot, None) for slot in EDITABLE[field]),
            SlotSet("requested_slot", None),
            SlotSet("report_stage", "editing"),
        ]


class ActionReportCancel(Action):
    """Abandons the report in progress; nothing is sent."""

    def __init__(self, access: TicketsAccess | None = None) -> None:
        self._access = access

    def name(self) -> str:
        return "action_report_cancel"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        services = await (self._access or tickets_access()).services()
        await services.contacts.discard(*identity(tracker))
        dispatcher.utter_message(response="utter_report_cancelled")
        return [ActiveLoop(None), *reset_report(), SlotSet("requested_slot", None)]
