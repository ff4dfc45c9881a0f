"""What the catalog actions share: the live catalog, the clock, and resolving what the citizen named."""

from __future__ import annotations

import asyncio
import functools
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.settings import town_now
from bot.town.catalog import PARIS, Catalog, Match, Service
from bot.town.catalog.answers import with_town_hall
from bot.town.catalog.formatting import capitalized
from bot.town.catalog.live import LiveCatalog, live_catalog_from_settings

Clock = Callable[[], datetime]
Events = list[dict[str, Any]]

SURE_SCORE = 0.85  # below this, a lone fuzzy match ("permis de" for "permis de construire") is offered, not assumed
TOPIC_SLOT = "catalog_topic"  # the last catalog question, so that a bare follow-up (« et le samedi ? ») is understood


@functools.lru_cache(maxsize=1)
def shared_live_catalog() -> LiveCatalog:
    """The process's one live catalog, from the settings (opens the database; blocking: call off the event loop)."""
    return live_catalog_from_settings()


class CatalogCache:
    """The live catalog of the database for this process: created on first use, checked for changes at most once per
    CATALOG_CHECK_SECONDS, off the event loop (between checks, using it costs nothing)."""

    def __init__(self, open_live: Callable[[], LiveCatalog] | None = None) -> None:
        self._open_live = open_live or shared_live_catalog
        self._live: LiveCatalog | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Catalog:
        """The catalog, as current as the last check."""
        live = self._live
        if live is None:
            async with self._lock:
                if self._live is None:
                    self._live = await asyncio.to_thread(self._open_live)
            live = self._live
        catalog = live.current()
        return catalog if catalog is not None else await asyncio.to_thread(live.refresh)


_shared_catalog = CatalogCache()  # opens nothing until an action first runs


@dataclass
class Turn:
    """One run of a catalog action: who to answer, what was said, the catalog and the time."""

    dispatcher: CollectingDispatcher
    tracker: Tracker
    catalog: Catalog
    now: datetime
    follow_up: bool = False  # a bare follow-up: unmatched text names something unknown rather than nothing
    use_memory: bool = True  # False when the fragment itself must name the entry (« et la patinoire ? »)

    def utter(self, response: str, buttons: list[dict[str, str]] | None = None, /, **pieces: str) -> None:
        """Send a domain.yml response filled with the pieces."""
        if buttons:
            self.dispatcher.utter_message(response=response, buttons=buttons, **pieces)
        else:
            self.dispatcher.utter_message(response=response, **pieces)

    @property
    def named(self) -> str:
        """The text as a name: « et pour la patinoire ? » -> "la patinoire"."""
        return re.sub(r"^(et\s+)?(pour\s+)?", "", self.text.strip(" ?!.…"), flags=re.I).strip() or self.text

    @property
    def text(self) -> str:
        """What the citizen typed last."""
        return (self.tracker.latest_message.get("text") or "").strip()

    def entity_values(self, entity: str) -> list[str]:
        """Distinct values of an entity in the latest message, in order."""
        values: list[str] = []
        for item in self.tracker.latest_message.get("entities") or []:
            value = item.get("value")
            if item.get("entity") == entity and isinstance(value, str) and value.strip() and value not in values:
                values.append(value)
        return values

    def text_from_entity(self, entity: str) -> str | None:
        """The message from where the entity starts to its end, for an entity the NLU may have cut short."""
        for item in self.tracker.latest_message.get("entities") or []:
            if item.get("entity") == entity and isinstance(item.get("start"), int):
                return self.text[item["start"] :].strip(" ?!.") or None
        return None

    def entity(self, entity: str) -> str | None:
        """The first value of an entity in the latest message."""
        values = self.entity_values(entity)
        return values[0] if values else None


class CatalogAction(Action, ABC):
    """An action answering from the catalog; the catalog and the clock can be injected for tests."""

    def __init__(self, catalog: Catalog | None = None, clock: Clock = town_now) -> None:
        self._catalog = catalog
        self._clock = clock

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        catalog = self._catalog or await _shared_catalog.get()
        turn = Turn(dispatcher, tracker, catalog, self._clock().astimezone(PARIS))
        # Fuzzy matching and date arithmetic are CPU work: keep the action server's event loop free meanwhile.
        return await asyncio.to_thread(self.answer, turn)

    @abstractmethod
    def answer(self, turn: Turn) -> Events:
        """Utter the answer and return the events."""


@dataclass(frozen=True)
class Choice:
    """What a citizen's words point to: one id (resolved), several (ambiguous), none (unknown or missing)."""

    ids: tuple[str, ...] = ()
    asked: str | None = None  # what was typed, when something was typed
    sure: bool = True  # False when a single match is too loose to act on without asking ("permis de" -> permis?)

    @property
    def resolved(self) -> str | None:
        """The id when exactly one entry matches, closely enough."""
        return self.ids[0] if len(self.ids) == 1 and self.sure else None


def is_sure(matches: list[Match]) -> bool:
    """Whether a lone match is close enough to answer without asking "did you mean ...?"."""
    return len(matches) != 1 or matches[0].score >= SURE_SCORE


def choose(turn: Turn, entity: str, slot: str, known: dict[str, Any], resolve: Callable[[str], list[Match]]) -> Choice:
    """Resolve an entity of the latest message, else the remembered slot, else the whole text, to catalog ids."""
    values = turn.entity_values(entity)
    if values:
        ids: list[str] = []
        sure = True
        for value in values:
            matches = [] if value in known else resolve(value)
            sure = sure and is_sure(matches)
            for found in [value] if value in known else [m.id for m in matches]:
                if found not in ids:
                    ids.append(found)
        return Choice(tuple(ids), ", ".join(values), sure)
    remembered = turn.tracker.get_slot(slot) if turn.use_memory else None
    if isinstance(remembered, str) and remembered:
        if remembered in known:
            return Choice((remembered,), remembered)
        return Choice(tuple(m.id for m in resolve(remembered)), remembered)
    if turn.text and not turn.text.startswith("/"):
        # A whole sentence only ever partly matches a name, so a lone match is taken as it is.
        matches = resolve(turn.named)
        if matches or turn.follow_up:
            return Choice(tuple(m.id for m in matches), turn.named)
    return Choice()


def payload(intent: str, entities: dict[str, str]) -> str:
    """A button payload that asks `intent` again with these entities, e.g. /ask_opening_hours{"service": "piscine"}."""
    return f"/{intent}{json.dumps(entities, ensure_ascii=False)}" if entities else f"/{intent}"


def choice_buttons(
    intent: str, entity: str, options: list[tuple[str, str]], extra: dict[str, str] | None = None
) -> list[dict[str, str]]:
    """One button per (value, title), re-asking the same intent with that entity value."""
    return [{"title": title, "payload": payload(intent, {entity: value, **(extra or {})})} for value, title in options]


def service_title(service: Service) -> str:
    """A short button title for a service: "La mairie", "Le CCAS"."""
    return capitalized(service.label)


def utter_with_town_hall(turn: Turn, response: str, **pieces: str) -> None:
    """Utter a response that ends with the town hall's contact, or its `_plain` variant when there is none."""
    answer = with_town_hall(turn.catalog, response, pieces)
    turn.utter(answer.response, **answer.pieces)


def ask_which_service(turn: Turn, choice: Choice, intent: str, topic: str, extra: dict[str, str]) -> Events:
    """Ask which service is meant (buttons), or say honestly that it is unknown, with the town hall's contact."""
    services = turn.catalog.services
    if choice.ids:
        options = [(i, service_title(services[i])) for i in choice.ids]
        turn.utter(
            "utter_ask_which_service_among", choice_buttons(intent, "service", options, extra), asked=choice.asked or ""
        )
        return [SlotSet(TOPIC_SLOT, topic)]
    if choice.asked:
        utter_with_town_hall(turn, "utter_service_unknown", asked=choice.asked)
        return [SlotSet("service", None), SlotSet(TOPIC_SLOT, topic)]  # the topic stays, so rules still apply
    options = [(s.id, service_title(s)) for s in services.values()]
    turn.utter("utter_ask_which_service", choice_buttons(intent, "service", options, extra))
    return [SlotSet(TOPIC_SLOT, topic)]


def choose_service(turn: Turn) -> Choice:
    """The service the citizen means: named now, remembered from before, or typed in the text."""
    return choose(turn, "service", "service", turn.catalog.services, turn.catalog.resolve_service)
