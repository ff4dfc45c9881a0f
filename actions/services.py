"""Local services: opening hours (now, on a day, the week), address and access, phone/e-mail/website."""

from __future__ import annotations

import re
from datetime import date

from rasa_sdk.events import SlotSet

from actions.catalog_access import (
    TOPIC_SLOT,
    CatalogAction,
    Events,
    Turn,
    ask_which_service,
    choose_service,
)
from actions.french_dates import next_weekday, parse_date, parse_weekday
from bot.town.catalog import Service
from bot.town.catalog.answers import (
    Answer,
    contact_answers,
    day_answer,
    no_contact_answer,
    service_pieces,
    status_answer,
    week_answer,
)

# Words that ask for the whole week rather than "open now?" ("horaires", "quels jours", "jours d'ouverture").
_WEEK_WORDS = re.compile(r"hor+air|semaine|quels? jours|jours d.ouverture|heures d.ouverture|tous les jours", re.I)


def requested_day(turn: Turn) -> date | None:
    """The day the citizen asks about (a date, else a weekday), or None for "now"."""
    today = turn.now.date()
    for value in turn.entity_values("date"):
        if (day := parse_date(value, today)) is not None:
            return day
    for value in turn.entity_values("weekday"):
        if (weekday := parse_weekday(value)) is not None:
            return next_weekday(weekday, today)
    return None


def utter(turn: Turn, answer: Answer) -> None:
    """Utter one answer of bot.town.catalog.answers."""
    turn.utter(answer.response, **answer.pieces)


def utter_week(turn: Turn, service: Service) -> None:
    """The usual week in force now (the seasonal one in season), closed days left out."""
    answer = week_answer(service, turn.now.date())
    if answer is not None:
        utter(turn, answer)


def _remember(service: Service, topic: str) -> Events:
    return [SlotSet("service", service.id), SlotSet(TOPIC_SLOT, topic)]


def _day_entities(turn: Turn) -> dict[str, str]:
    """The day named in the question, kept in "which one?" buttons so the answer still covers it."""
    entities = {}
    if value := turn.entity("date"):
        entities["date"] = value
    if value := turn.entity("weekday"):
        entities["weekday"] = value
    return entities


def answer_hours(turn: Turn) -> Events:
    """Opening hours of the service named or remembered: now, on the day asked, or the week."""
    choice = choose_service(turn)
    if choice.resolved is None:
        return ask_which_service(turn, choice, "ask_opening_hours", "hours", _day_entities(turn))
    service = turn.catalog.service(choice.resolved)
    day = requested_day(turn)
    if day is None or day == turn.now.date():
        utter(turn, status_answer(service, turn.now))
        if day is None and _WEEK_WORDS.search(turn.text):
            utter_week(turn, service)
    else:
        utter(turn, day_answer(service, day, turn.now))
    return _remember(service, "hours")


def answer_location(turn: Turn) -> Events:
    """Address, how to get there, accessibility and a map link of the service named or remembered."""
    choice = choose_service(turn)
    if choice.resolved is None:
        return ask_which_service(turn, choice, "ask_service_location", "location", {})
    service = turn.catalog.service(choice.resolved)
    pieces = {**service_pieces(service), "address": service.address.one_line(), "map_url": service.map_url}
    if service.access and service.accessibility:
        turn.utter("utter_service_location", **pieces, access=service.access, accessibility=service.accessibility)
    else:
        turn.utter("utter_service_address", **pieces)
        if service.access:
            turn.utter("utter_service_access", access=service.access)
        if service.accessibility:
            turn.utter("utter_service_accessibility", accessibility=service.accessibility)
    return _remember(service, "location")


def answer_contact(turn: Turn) -> Events:
    """Phone, e-mail and website of the service named or remembered, all from the catalog."""
    choice = choose_service(turn)
    if choice.resolved is None:
        return ask_which_service(turn, choice, "ask_service_contact", "contact", {})
    service = turn.catalog.service(choice.resolved)
    answers = contact_answers(service)
    for answer in answers:
        utter(turn, answer)
    if not answers:
        utter(turn, no_contact_answer(turn.catalog, service))
    return _remember(service, "contact")


class ActionServiceHours(CatalogAction):
    """Answers "is it open (now, on Saturday, on 14 July)?" and "what are the hours?"."""

    def name(self) -> str:
        return "action_service_hours"

    def answer(self, turn: Turn) -> Events:
        return answer_hours(turn)


class ActionServiceLocation(CatalogAction):
    """Answers "where is it and how do I get there?"."""

    def name(self) -> str:
        return "action_service_location"

    def answer(self, turn: Turn) -> Events:
        return answer_location(turn)


class ActionServiceContact(CatalogAction):
    """Answers "what is their phone number, e-mail, website?"."""

    def name(self) -> str:
        return "action_service_contact"

    def answer(self, turn: Turn) -> Events:
        return answer_contact(turn)
