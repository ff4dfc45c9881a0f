"""Rasa's event classes looked up in a table instead of a walk over every subclass, for every event it reads.

Replaces `Event.resolve_by_type`. Rasa 3.6 turns each stored or received event into its class by rebuilding the
list of all `Event` subclasses (a recursive walk over a few dozen classes) and scanning it, for every single event;
a turn reads the whole conversation back from the tracker store and the events of every custom action. Here the
first lookup of each type name is Rasa's own, and its answer is remembered.
"""

from __future__ import annotations

from collections.abc import Callable

from rasa.shared.core.events import Event

from bot.speedups._patching import replace

TARGETS = ("rasa.shared.core.events.Event.resolve_by_type",)


def install() -> None:
    """Make `Event.resolve_by_type` remember the class of each known type name."""
    replace(Event, "resolve_by_type", remembering, by=__name__)


def remembering(original: Callable[..., type[Event] | None]) -> Callable[..., type[Event] | None]:
    """Rasa's `resolve_by_type`, each answer remembered by type name."""
    found: dict[str, type[Event] | None] = {}

    def resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
        try:
            return found[type_name]
        except KeyError:
            pass
        try:
            cls = original(type_name)  # Rasa's walk: the class, None for the legacy "topic", ValueError if unknown
        except ValueError:
            if default is not None:
                return default
            raise
        found[type_name] = cls
        return cls

    resolve_by_type.__doc__ = original.__doc__
    return resolve_by_type
