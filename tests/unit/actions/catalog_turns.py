"""Running a catalog action on one citizen message, with the sample town and a fixed clock (shared by the tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.town.catalog import PARIS, Catalog, load_catalog

ROOT = Path(__file__).resolve().parents[3]
TOWN = ROOT / "data" / "town"
# Keys every rasa-sdk message has; what is left are the response's template variables.
_MESSAGE_KEYS = {"text", "buttons", "elements", "custom", "template", "response", "image", "attachment"}


def paris(text: str) -> datetime:
    """A wall-clock time in Pau, e.g. "2026-03-10 11:20"."""
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


@dataclass
class Said:
    """One dispatched message: the response name, its template variables and its buttons."""

    response: str
    pieces: dict[str, str]
    buttons: list[dict[str, str]]


def said(dispatcher: CollectingDispatcher) -> list[Said]:
    """What the action uttered."""
    return [
        Said(m["response"], {k: v for k, v in m.items() if k not in _MESSAGE_KEYS}, m.get("buttons") or [])
        for m in dispatcher.messages
    ]


def tracker(
    text: str,
    intent: str,
    entities: dict[str, str] | list[tuple[str, str]] | None = None,
    slots: dict[str, Any] | None = None,
) -> Tracker:
    """A tracker whose latest message is `text`, classified as `intent` with these entities."""
    pairs = list(entities.items()) if isinstance(entities, dict) else list(entities or [])
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": [{"entity": name, "value": value} for name, value in pairs],
    }
    return Tracker("citizen", dict(slots or {}), latest, [], False, None, {}, "action_listen")


async def run(
    action_class: type[Action],
    catalog: Catalog,
    now: datetime,
    text: str,
    intent: str,
    entities: dict[str, str] | list[tuple[str, str]] | None = None,
    slots: dict[str, Any] | None = None,
) -> tuple[list[Said], list[dict[str, Any]]]:
    """Run the action once; what it said and the events it returned."""
    dispatcher = CollectingDispatcher()
    action = action_class(catalog, lambda: now)  # type: ignore[call-arg]
    events = await action.run(dispatcher, tracker(text, intent, entities, slots), {})
    return said(dispatcher), events


def sample_town() -> Catalog:
    """The sample town of data/town/."""
    return load_catalog(TOWN)
