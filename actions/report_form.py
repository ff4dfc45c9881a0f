"""validate_report_form: what each answer of the report conversation fills (category, place, description, photo,
contact), the danger warning, and which messages are left to the rules (questions asked in the middle, "non")."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from actions.tickets_access import TicketsAccess, tickets_access
from bot.town.catalog.geocoding import Geocoder
from bot.town.tickets import PROBLEM_TYPES
from bot.town.tickets.danger import detect_danger, fold
from bot.town.tickets.intake import house_number, is_skip, nearest_street, parse_contact, shared_location, shared_photo

logger = logging.getLogger(__name__)

FORM_SLOTS = ("report_category", "report_location", "report_description", "report_photo", "report_contact")
CONSENT_SLOT = "report_contact_consent"  # asked only after a contact was given (declining one fills it with NONE)
YES, NO = "oui", "non"
LOCATION_SLOTS = ("report_location", "report_street", "report_lat", "report_long")
HELPER_SLOTS = ("report_street", "report_lat", "report_long")
REPORT_SLOTS = (*FORM_SLOTS, CONSENT_SLOT, *HELPER_SLOTS, "report_danger_warned", "report_stage", "report_duplicate")
NONE = "none"  # an optional step the citizen declined
CANCEL_QUESTION = "utter_report_confirm_cancel"
# Intents the form leaves to the rules: they are answered, then the form asks its question again.
INTERRUPTIONS = frozenset({"bot_challenge", "help", "goodbye", "request_human", "erase_my_data"})
# Questions about the town: an interruption, except in a free-text answer that does not read as a question
# ("le trou grandit chaque jour" is a description, whatever the NLU thinks of "jour").
QUESTIONS = frozenset(
    {"ask_opening_hours", "ask_service_location", "ask_service_contact", "ask_procedure", "ask_waste_collection",
     "ask_ticket_status"}
)  # fmt: skip
FREE_TEXT_SLOTS = frozenset({"report_location", "report_description"})
_QUESTION_ANYWHERE = re.compile(r"\b(?:a quelle heure|est ce qu\w*|horaires?|numero de telephone)\b")
_QUESTION_START = re.compile(
    r"^(?:ou|quand|quel|quelle|quels|quelles|comment|combien|pourquoi|qui|est ce|c est quoi|a quelle heure"
    r"|pouvez vous|savez vous|je voudrais savoir|je veux savoir|horaires?)\b"
)
# Texts the connectors hand on for a message that only carries a photo or a position.
MEDIA_NOTICES = frozenset({"", "photo jointe", "position partagee"})
MAX_DESCRIPTION_CHARS = 1000
MAX_LANDMARK_CHARS = 200


def identity(tracker: Tracker) -> tuple[str, str]:
    """The channel identity of the conversation: (input channel, sender id)."""
    return tracker.get_latest_input_channel() or "rest", tracker.sender_id


def reads_as_question(text: str) -> bool:
    """Whether a message is worded as a question ("?", a question word first, or "à quelle heure"...)."""
    folded = fold(text)
    return "?" in text or _QUESTION_START.match(folded) is not None or _QUESTION_ANYWHERE.search(folded) is not None


def last_bot_action(events: list[dict[str, Any]]) -> str | None:
    """The last action the assistant ran before the citizen's latest message (action_listen aside)."""
    seen_user = False
    for event in reversed(events):
        if event.get("event") == "user":
            seen_user = True
        elif seen_user and event.get("event") == "action" and event.get("name") != "action_listen":
            return str(event.get("name"))
    return None


@dataclass(frozen=True)
class Turn:
    """The citizen's latest message as the form sees it."""

    intent: str | None
    text: str
    entities: tuple[dict[str, Any], ...]
    metadata: dict[str, Any]
    requested: str | None
    after_cancel_question: bool

    @classmethod
    def of(cls, tracker: Tracker) -> Turn:
        """Read the latest message, the requested slot and the previous question from the tracker."""
        message = tracker.latest_message or {}
        return cls(
            intent=(message.get("intent") or {}).get("name"),
            text=(message.get("text") or "").strip(),
            entities=tuple(message.get("entities") or ()),
            metadata=dict(message.get("metadata") or {}),
            requested=tracker.get_slot("requested_slot"),
            after_cancel_question=last_bot_action(tracker.events) == CANCEL_QUESTION,
        )

    def entity(self, name: str) -> str | None:
        """The value of the first entity of that name, if any."""
        return next((str(e["value"]) for e in self.entities if e.get("entity") == name and e.get("value")), None)

    @property
    def interrupts(self) -> bool:
        """A question or event the rules answer before the form resumes."""
        if self.intent in INTERRUPTIONS or (self.intent or "").startswith("EXTERNAL_"):
            return True
        if self.intent in QUESTIONS:
            return self.requested not in FREE_TEXT_SLOTS or reads_as_question(self.text)
        return False

    @property
    def yes_or_no(self) -> bool:
        """A plain yes or no."""
        return self.intent in ("affirm", "deny")

    @property
    def leaves_required_step(self) -> bool:
        """A "non" on a required step (the rules ask whether to abandon), or the answer to that question."""
        return self.interrupts or self.intent == "deny" or (self.after_cancel_question and self.yes_or_no)

    @property
    def media_only(self) -> bool:
        """The message carries a photo or a position and no words of its own."""
        has_media = shared_photo(self.metadata) is not None or shared_location(self.metadata) is not None
        return has_media and fold(self.text) in MEDIA_NOTICES


class ValidateReportForm(FormValidationAction):
    """Fills the report slots from each message and warns about danger once."""

    def __init__(self, access: TicketsAccess | None = None) -> None:
        self._access = access

    @property
    def access(self) -> TicketsAccess:
        """The ticket services (the process-wide ones unless injected)."""
        return self._access or tickets_access()

    def name(self) -> str:
        return "validate_report_form"

    def domain_slots(self, domain: dict[str, Any]) -> list[str]:
        """The form's slots plus the helper slots the location fills with it."""
        return [*super().domain_slots(domain), *HELPER_SLOTS]

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        turn = Turn.of(tracker)
        events: list[EventType] = []
        if not turn.interrupts and not tracker.get_slot("report_danger_warned") and detect_danger(turn.text):
            dispatcher.utter_message(response="utter_report_danger")
            events.append(SlotSet("report_danger_warned", True))
        return [*events, *await super().run(dispatcher, tracker, domain)]

    async def extract_report_category(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        turn = Turn.of(tracker)
        if turn.interrupts:
            return {}
        value = turn.entity("problem_type")
        value = value if value in PROBLEM_TYPES else None
        if turn.requested == "report_category":
            if value is None and turn.leaves_required_step:
                return {}
            return {"report_category": value}  # None asks again, with the buttons
        if value and (turn.requested is None or tracker.get_slot("report_category") is None):
            return {"report_category": value}
        return {}

    async def extract_report_location(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        turn = Turn.of(tracker)
        if turn.interrupts:
            return {}
        position = shared_location(turn.metadata)
        if position is not None:  # a position shared on purpose, at any step, is the place
            return await self._from_position(dispatcher, *position)
        address = turn.entity("address")
        if turn.requested == "report_location":
            if turn.leaves_required_step or turn.media_only:
                return {}
            return await self._from_words(dispatcher, address or turn.text, offer_choices=True, text=turn.text)
        if address and turn.requested is None and tracker.get_slot("report_location") is None:
            return await self._from_words(dispatcher, address, offer_choices=False, text=turn.text)
        return {}

    async def _from_words(
        self, dispatcher: CollectingDispatcher, words: str, *, offer_choices: bool, text: str = ""
    ) -> dict[str, Any]:
        """A typed address located with the town's addresses, else matched to the town's streets ("did you mean"
        buttons when several match)."""
        services = await self.access.services()
        located = await asyncio.to_thread(located_place, services.geocoder, words, text)
        if located:
            return located
        catalog = services.catalog
        matches = catalog.resolve_street(words)
        number = house_number(words)
        if len(matches) == 1:
            name = matches[0].name
            return place(f"{number} {name}" if number else name, street=name)
        if len(matches) > 1:
            if not offer_choices:
                return {}
            buttons = [
                {"title": m.name, "payload": address_payload(f"{number} {m.name}" if number else m.name)}
                for m in matches
            ]
            dispatcher.utter_message(response="utter_report_street_choices", buttons=buttons)
            return {"report_location": None}
        return place(words[:MAX_LANDMARK_CHARS])  # a landmark in the citizen's own words

    async def _from_position(self, dispatcher: CollectingDispatcher, lat: float, lon: float) -> dict[str, Any]:
        """A shared position, named after the nearest address of the town's address base, else the nearest street
        that has coordinates."""
        services = await self.access.services()
        address = await asyncio.to_thread(services.geocoder.nearest, lat, lon)
        if address is not None:
            dispatcher.utter_message(response="utter_report_position_street", location=address.label)
            return place(address.label, street=address.street, lat=lat, long=lon)
        nearest = nearest_street(services.catalog.waste.streets.values(), lat, lon)
        if nearest is not None:
            dispatcher.utter_message(response="utter_report_position_street", location=nearest.name)
            return place(nearest.name, street=nearest.name, lat=lat, long=lon)
        shown = f"{lat:.5f}, {lon:.5f}"
        dispatcher.utter_message(response="utter_report_position_kept", location=shown)
        return place(shown, lat=lat, long=lon)

    async def extract_report_description(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        turn = Turn.of(tracker)
        if turn.requested != "report_description" or turn.leaves_required_step or turn.media_only:
            return {}
        if turn.intent == "affirm" or len(turn.text) < 3:
            return {"report_description": None}
        return {"report_description": turn.text[:MAX_DESCRIPTION_CHARS]}

    async def extract_report_photo(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        turn = Turn.of(tracker)
        if turn.interrupts:
            return {}
        photo = shared_photo(turn.metadata)
        if photo is not None:
            return {"report_photo": photo}
        if turn.requested != "report_photo" or (turn.after_cancel_question and turn.yes_or_no):
            return {}
        if turn.intent == "deny" or is_skip(turn.text):
            return {"report_photo": NONE}
        return {"report_photo": None}

    async def extract_report_contact(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        turn = Turn.of(tracker)
        if turn.interrupts or turn.requested != "report_contact" or (turn.after_cancel_question and turn.yes_or_no):
            return {}
        contacts = (await self.access.services()).contacts
        contact = parse_contact(turn.text)
        if contact is not None:
            # Kept server-side: the conversation log masks it at the end of this turn. A new contact is asked
            # its consent again.
            await contacts.put(*identity(tracker), contact.value)
            return {"report_contact": contact.masked, CONSENT_SLOT: None}
        if turn.intent == "deny" or is_skip(turn.text):
            await contacts.discard(*identity(tracker))
            return {"report_contact": NONE, CONSENT_SLOT: NONE}  # no contact: no consent to ask
        dispatcher.utter_message(response="utter_report_contact_invalid")
        return {"report_contact": None}

    async def extract_report_contact_consent(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        """« oui » / « non » to updates at the contact just given; anything else asks again (with the buttons)."""
        turn = Turn.of(tracker)
        if turn.interrupts or turn.requested != CONSENT_SLOT or (turn.after_cancel_question and turn.yes_or_no):
            return {}
        if turn.intent == "affirm":
            return {CONSENT_SLOT: YES}
        if turn.intent == "deny" or is_skip(turn.text):
            return {CONSENT_SLOT: NO}
        return {CONSENT_SLOT: None}

    # The helper slots are filled with the location; nothing more to check.
    def validate_report_street(self, value: Any, *_: Any) -> dict[str, Any]:
        return {"report_street": value}

    def validate_report_lat(self, value: Any, *_: Any) -> dict[str, Any]:
        return {"report_lat": value}

    def validate_report_long(self, value: Any, *_: Any) -> dict[str, Any]:
        return {"report_long": value}


def located_place(geocoder: Geocoder, words: str, text: str) -> dict[str, Any]:
    """The location slots of a place the address base locates: the address entity, or the whole message when it
    says more (« devant le 40 avenue de Lons » where the entity kept « avenue de Lons »). A street alone has no
    position: its centroid may lie hundreds of metres from the problem, so it is matched by street instead."""
    for candidate in dict.fromkeys(c for c in (words, text) if c):
        found = geocoder.geocode(candidate)
        if found is not None and not found.approximate:
            return place(found.label, street=found.street, lat=found.lat, long=found.lon)
    return {}


def place(
    location: str, *, street: str | None = None, lat: float | None = None, long: float | None = None
) -> dict[str, Any]:
    """The location slots, all set together so a corrected place leaves nothing of the previous one."""
    return {"report_location": location, "report_street": street, "report_lat": lat, "report_long": long}


def address_payload(address: str) -> str:
    """A button payload that answers the location question with this address."""
    return "/inform" + json.dumps({"address": address}, ensure_ascii=False)
