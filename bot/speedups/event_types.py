"""Rasa's event classes looked up in a table instead of a walk over every subclass, for every event it reads.

Rasa 3.6 turns each stored or received event into its class with `Event.resolve_by_type`, which rebuilds the list
of all `Event` subclasses (a recursive walk over a few dozen classes) and scans it, for every single event. A turn
reads the whole conversation back from the tracker store and the events of every custom action, so a conversation
of 30 events spends about 5 ms per turn there (cProfile, 2 cores): more than the SQL itself. Here the first lookup of
each type name is Rasa's own, and its answer is remembered. `install()` is called by `bot.runtime.server` and by the
tracker store.
"""

from __future__ import annotations

from rasa.shared.core.events import Event


def install() -> None:
    """Make `Event.resolve_by_type` remember the class of each known type name (idempotent)."""
    original = Event.__dict__["resolve_by_type"].__func__
    if getattr(original, "guichet_cached", False):
        return
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
    resolve_by_type.guichet_cached = True  # type: ignore[attr-defined]
    Event.resolve_by_type = staticmethod(resolve_by_type)  # type: ignore[method-assign,assignment]
