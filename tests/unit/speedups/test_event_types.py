"""Event classes looked up once per type name (bot/speedups/event_types.py) resolve exactly as Rasa's walk does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rasa.shared.core.events import ActionExecuted, Event, UserUttered
from rasa.shared.utils.common import all_subclasses

from bot import speedups
from bot.speedups import event_types


@pytest.fixture(autouse=True)
def remembered() -> Iterator[None]:
    with speedups.installed(event_types):
        yield


def test_every_event_type_resolves_to_the_class_rasa_finds() -> None:
    event_types.install()  # idempotent
    for cls in all_subclasses(Event):
        if cls.type_name != "event":
            expected = next(c for c in all_subclasses(Event) if c.type_name == cls.type_name)
            assert Event.resolve_by_type(cls.type_name) is expected
            assert Event.resolve_by_type(cls.type_name) is expected  # from the table this time


def test_unknown_and_legacy_types_behave_as_in_rasa() -> None:
    with pytest.raises(ValueError, match="Unknown event name 'no_such_event'"):
        Event.resolve_by_type("no_such_event")
    assert Event.resolve_by_type("no_such_event", default=UserUttered) is UserUttered
    assert Event.resolve_by_type("topic") is None


def test_stored_events_are_rebuilt_identically() -> None:
    events = [ActionExecuted("action_listen"), UserUttered("bonjour", {"name": "greet", "confidence": 0.9})]
    assert [Event.from_parameters(e.as_dict()) for e in events] == events
