"""What the assistant will answer about a service, rendered for staff from the same answers and responses.

The answers are bot.town.catalog.answers (what the actions utter); their sentences are domain.yml's responses, filled
the way Rasa fills them ({placeholder} by the answer's pieces and the town's name), on the web chat and by SMS.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import yaml

from bot.town.catalog.answers import (
    Answer,
    contact_answers,
    day_answer,
    no_contact_answer,
    status_answer,
    week_answer,
)
from bot.town.catalog.catalog import Catalog
from bot.town.catalog.formatting import format_date
from bot.town.catalog.models import Service

CLOSURES_AHEAD_DAYS = 90  # exceptional closures previewed: those that end within this many days from today


@dataclass(frozen=True)
class PreviewLine:
    """A question a citizen may ask, and the answer on the web chat and by SMS (None when SMS says the same)."""

    question: str
    web: str
    sms: str | None


class _Pieces(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"  # an unfilled placeholder shows, as Rasa leaves it


@functools.lru_cache(maxsize=4)
def response_texts(domain_file: Path) -> dict[str, dict[str | None, str]]:
    """The text of each domain.yml response by channel (None: the default variant)."""
    document = yaml.safe_load(domain_file.read_text(encoding="utf-8")) or {}
    texts: dict[str, dict[str | None, str]] = {}
    for name, variants in (document.get("responses") or {}).items():
        for variant in variants or []:
            if isinstance(variant, dict) and isinstance(variant.get("text"), str):
                texts.setdefault(name, {}).setdefault(variant.get("channel"), variant["text"])
    return texts


class ResponseRenderer:
    """Fills domain.yml responses with an answer's pieces, as the citizen reads them."""

    def __init__(self, domain_file: Path, town_name: str) -> None:
        self.texts = response_texts(domain_file)
        self.town = {"town_name": town_name}

    def render(self, answers: list[Answer], channel: str | None = None) -> str:
        """The answers' texts on a channel (its variant when there is one), one per line."""
        lines = []
        for answer in answers:
            variants = self.texts.get(answer.response, {})
            template = variants.get(channel) or variants.get(None)
            if template is not None:
                lines.append(template.format_map(_Pieces({**self.town, **answer.pieces})))
        return "\n".join(lines)

    def line(self, question: str, answers: list[Answer]) -> PreviewLine:
        """One question with its answer on the web chat and by SMS."""
        web, sms = self.render(answers), self.render(answers, "sms")
        return PreviewLine(question, web, sms if sms != web else None)


def service_preview(catalog: Catalog, service: Service, now: datetime, renderer: ResponseRenderer) -> list[PreviewLine]:
    """The answers about a service now: open now, tomorrow, on each coming exceptional closure, its week, contacts."""
    today = now.date()
    tomorrow = today + timedelta(days=1)
    lines = [
        renderer.line("Est-ce ouvert en ce moment ?", [status_answer(service, now)]),
        renderer.line("Est-ce ouvert demain ?", [day_answer(service, tomorrow, now)]),
    ]
    for day in _closure_days(service, today):
        if day != tomorrow:
            lines.append(renderer.line(f"Est-ce ouvert le {format_date(day)} ?", [day_answer(service, day, now)]))
    week = week_answer(service, today)
    if week is not None:
        lines.append(renderer.line("Quels sont les horaires ?", [week]))
    lines.append(
        renderer.line("Comment les joindre ?", contact_answers(service) or [no_contact_answer(catalog, service)])
    )
    return lines


def _closure_days(service: Service, today: date) -> list[date]:
    """The first coming day of each exceptional closure that ends within CLOSURES_AHEAD_DAYS."""
    days = []
    for closure in service.closures:
        if closure.end >= today and closure.start <= today + timedelta(days=CLOSURES_AHEAD_DAYS):
            days.append(max(closure.start, today))
    return sorted(set(days))


def preview_for(
    catalog: Catalog, service_id: str, now: datetime, domain_file: Path, town_name: str
) -> list[PreviewLine]:
    """The preview of one service of `catalog` with the responses of `domain_file`."""
    return service_preview(catalog, catalog.service(service_id), now, ResponseRenderer(domain_file, town_name))
