"""Which domain.yml response answers a question about a service, and the French pieces that fill it.

The actions utter these answers; the console's catalog preview renders the same ones, so what staff preview is
what a citizen reads. Whole sentences stay in domain.yml: an `Answer` only names the response and its pieces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

from bot.town.catalog.catalog import Catalog
from bot.town.catalog.formatting import (
    agree,
    capitalized,
    format_day,
    format_moment,
    format_ranges,
    format_week,
    status_pieces,
)
from bot.town.catalog.hours import PARIS, hours_on, next_opening, status_at, week_for
from bot.town.catalog.models import Service

TOWN_HALL = "mairie"  # the service that can point a citizen anywhere else


@dataclass(frozen=True)
class Answer:
    """A domain.yml response name and the values of its {placeholders}."""

    response: str
    pieces: dict[str, str] = field(default_factory=dict)


def service_pieces(service: Service) -> dict[str, str]:
    """The pieces every service answer may use: its label, agreed adjectives and pronoun."""
    return {
        "service": service.label,
        "Service": capitalized(service.label),
        "open_word": agree("ouvert", service.gender),
        "closed_word": agree("fermé", service.gender),
        "Pronoun": "Elle" if service.gender == "f" else "Il",
    }


def status_answer(service: Service, now: datetime) -> Answer:
    """Open now and until when, or closed now and when it reopens."""
    status = status_at(service, now)
    pieces = status_pieces(service, status)
    if status.is_open:
        response = "utter_hours_open_now_reduced" if "closure_reason" in pieces else "utter_hours_open_now"
    elif "next_opening" not in pieces:
        response = "utter_hours_closed_no_reopening"
    elif status.today.ranges:
        response = "utter_hours_closed_now"
    elif "closure_reason" in pieces:
        response = "utter_hours_closed_today_closure"
    elif "holiday" in pieces:
        response = "utter_hours_closed_today_holiday"
    else:
        response = "utter_hours_closed_today"
    return Answer(response, pieces)


def day_answer(service: Service, day: date, now: datetime) -> Answer:
    """Whether the service opens on that day, with holidays, exceptional closures and seasons."""
    hours = hours_on(service, day)
    label = format_day(day, now.astimezone(PARIS).date())
    pieces = {**service_pieces(service), "day": label, "Day": capitalized(label),
              "day_ranges": format_ranges(hours.ranges)}  # fmt: skip
    if hours.closure:
        pieces["closure_reason"] = hours.closure
    if hours.holiday:
        pieces["holiday"] = hours.holiday
    if hours.season:
        pieces["season"] = hours.season
    if hours.is_open:
        suffix = "_reduced" if hours.closure else "_holiday" if hours.holiday else "_season" if hours.season else ""
        return Answer(f"utter_hours_day_open{suffix}", pieces)
    reopening = next_opening(service, datetime.combine(day, time(0), tzinfo=PARIS))
    suffix = "_closure" if hours.closure else "_holiday" if hours.holiday else ""
    if reopening is None:
        return Answer(f"utter_hours_day_closed{suffix}", pieces)
    return Answer(f"utter_hours_day_closed{suffix}_reopens", {**pieces, "next_opening": format_moment(reopening, now)})


def week_answer(service: Service, today: date) -> Answer | None:
    """The usual week in force on `today` (the seasonal one in season), closed days left out; None when never open."""
    week, season = week_for(service, today)
    lines = format_week(week)
    if not lines:
        return None
    text = "\n".join(f"- {line}" for line in lines)
    if season:
        return Answer("utter_hours_week_season", {**service_pieces(service), "week": text, "season": season})
    return Answer("utter_hours_week", {**service_pieces(service), "week": text})


def contact_answers(service: Service) -> list[Answer]:
    """Phone, e-mail and website from the catalog; empty when the service has none (the caller points elsewhere)."""
    base = service_pieces(service)
    if service.phone and service.email and service.website:
        pieces = {**base, "phone": service.phone, "email": service.email, "website": service.website}
        return [Answer("utter_service_contact", pieces)]
    if not (service.phone or service.email or service.website):
        return []
    answers = [Answer("utter_service_contact_intro", base)]
    if service.phone:
        answers.append(Answer("utter_contact_phone", {"phone": service.phone}))
    if service.email:
        answers.append(Answer("utter_contact_email", {"email": service.email}))
    if service.website:
        answers.append(Answer("utter_contact_website", {"website": service.website}))
    return answers


def town_hall_pieces(catalog: Catalog) -> dict[str, str] | None:
    """The town hall's phone and e-mail from the catalog, or None when the catalog lacks them."""
    hall = catalog.services.get(TOWN_HALL)
    if hall is None or not hall.phone or not hall.email:
        return None
    return {"town_hall_phone": hall.phone, "town_hall_email": hall.email}


def with_town_hall(catalog: Catalog, response: str, pieces: dict[str, str]) -> Answer:
    """A response that ends with the town hall's contact, or its `_plain` variant when the catalog has none."""
    hall = town_hall_pieces(catalog)
    return Answer(f"{response}_plain", pieces) if hall is None else Answer(response, {**pieces, **hall})


def no_contact_answer(catalog: Catalog, service: Service) -> Answer:
    """What the assistant says when a service has no phone, e-mail or website: ask the town hall."""
    return with_town_hall(catalog, "utter_service_no_contact", service_pieces(service))
