"""Local services: opening hours (now, on a day, the week), address and access, phone/e-mail/website."""

from __future__ import annotations

import re
from datetime import date, datetime, time

from rasa_sdk.events import SlotSet

from actions.catalog_access import (
    TOPIC_SLOT,
    CatalogAction,
    Events,
    Turn,
    ask_which_service,
    choose_service,
    utter_with_town_hall,
)
from actions.french_dates import next_weekday, parse_date, parse_weekday
from bot.town.catalog import PARIS, Service, hours_on, next_opening, status_at, status_pieces
from bot.town.catalog.formatting import agree, capitalized, format_day, format_moment, format_ranges, format_week
from bot.town.catalog.hours import week_for

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


def _base(service: Service) -> dict[str, str]:
    return {
        "service": service.label,
        "Service": capitalized(service.label),
        "open_word": agree("ouvert", service.gender),
        "closed_word": agree("fermé", service.gender),
        "Pronoun": "Elle" if service.gender == "f" else "Il",
    }


def utter_status_now(turn: Turn, service: Service) -> None:
    """Open now and until when, or closed now and when it reopens."""
    status = status_at(service, turn.now)
    pieces = status_pieces(service, status)
    if status.is_open:
        turn.utter("utter_hours_open_now_reduced" if "closure_reason" in pieces else "utter_hours_open_now", **pieces)
    elif "next_opening" not in pieces:
        turn.utter("utter_hours_closed_no_reopening", **pieces)
    elif status.today.ranges:
        turn.utter("utter_hours_closed_now", **pieces)
    elif "closure_reason" in pieces:
        turn.utter("utter_hours_closed_today_closure", **pieces)
    elif "holiday" in pieces:
        turn.utter("utter_hours_closed_today_holiday", **pieces)
    else:
        turn.utter("utter_hours_closed_today", **pieces)


def utter_day(turn: Turn, service: Service, day: date) -> None:
    """Whether the service opens on that day, with holidays, exceptional closures and seasons."""
    hours = hours_on(service, day)
    label = format_day(day, turn.now.date())
    pieces = {**_base(service), "day": label, "Day": capitalized(label), "day_ranges": format_ranges(hours.ranges)}
    if hours.closure:
        pieces["closure_reason"] = hours.closure
    if hours.holiday:
        pieces["holiday"] = hours.holiday
    if hours.season:
        pieces["season"] = hours.season
    if hours.is_open:
        suffix = "_reduced" if hours.closure else "_holiday" if hours.holiday else "_season" if hours.season else ""
        turn.utter(f"utter_hours_day_open{suffix}", **pieces)
        return
    reopening = next_opening(service, datetime.combine(day, time(0), tzinfo=PARIS))
    suffix = "_closure" if hours.closure else "_holiday" if hours.holiday else ""
    if reopening is None:
        turn.utter(f"utter_hours_day_closed{suffix}", **pieces)
        return
    turn.utter(f"utter_hours_day_closed{suffix}_reopens", **pieces, next_opening=format_moment(reopening, turn.now))


def utter_week(turn: Turn, service: Service) -> None:
    """The usual week in force now (the seasonal one in season), closed days left out."""
    week, season = week_for(service, turn.now.date())
    lines = format_week(week)
    if not lines:
        return
    text = "\n".join(f"- {line}" for line in lines)
    if season:
        turn.utter("utter_hours_week_season", **_base(service), week=text, season=season)
    else:
        turn.utter("utter_hours_week", **_base(service), week=text)


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
        utter_status_now(turn, service)
        if day is None and _WEEK_WORDS.search(turn.text):
            utter_week(turn, service)
    else:
        utter_day(turn, service, day)
    return _remember(service, "hours")


def answer_location(turn: Turn) -> Events:
    """Address, how to get there, accessibility and a map link of the service named or remembered."""
    choice = choose_service(turn)
    if choice.resolved is None:
        return ask_which_service(turn, choice, "ask_service_location", "location", {})
    service = turn.catalog.service(choice.resolved)
    pieces = {**_base(service), "address": service.address.one_line(), "map_url": service.map_url}
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
    base = _base(service)
    if service.phone and service.email and service.website:
        turn.utter("utter_service_contact", **base, phone=service.phone, email=service.email, website=service.website)
    elif service.phone or service.email or service.website:
        turn.utter("utter_service_contact_intro", **base)
        if service.phone:
            turn.utter("utter_contact_phone", phone=service.phone)
        if service.email:
            turn.utter("utter_contact_email", email=service.email)
        if service.website:
            turn.utter("utter_contact_website", website=service.website)
    else:
        utter_with_town_hall(turn, "utter_service_no_contact", **base)
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
