"""Dialogue states worked out once per tracker (bot/speedups/dialogue_states.py) are exactly Rasa's, call after call."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from rasa.core.training import load_data
from rasa.shared.core.constants import RULE_ONLY_LOOPS, RULE_ONLY_SLOTS
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

from bot import speedups
from bot.settings import ROOT
from bot.speedups import dialogue_states

RASA_STATES = speedups.original(Domain, "states_for_tracker_history")
RULE_ONLY = [None, {RULE_ONLY_SLOTS: ["report_category", "service"], RULE_ONLY_LOOPS: ["report_form"]}]
OPTIONS = list(itertools.product([False, True], [False, True], RULE_ONLY))


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture(scope="module")
def conversations(domain: Domain) -> list[list[Any]]:
    """The events of every story, rule and test conversation, and of each with every other action rule-hidden."""
    found = []
    for resource in ("data/stories", "data/rules", "tests/test_conversation.yml", "tests/test_tickets.yml"):
        for tracker in load_data(str(ROOT / resource), domain, augmentation_factor=0, remove_duplicates=False):
            events = [copy.copy(event) for event in tracker.events]
            found.append(events)
            hidden = [copy.copy(event) for event in events]
            for number, event in enumerate(e for e in hidden if isinstance(e, ActionExecuted)):
                event.hide_rule_turn = number % 2 == 1
            found.append(hidden)
    assert len(found) > 60
    return found


@pytest.fixture
def once() -> Iterator[None]:
    with speedups.installed(dialogue_states):
        dialogue_states.install()  # idempotent
        assert Domain.states_for_tracker_history.__wrapped__ is RASA_STATES  # type: ignore[attr-defined]
        yield
    assert Domain.states_for_tracker_history is RASA_STATES  # Rasa's own again


def test_every_call_gives_rasas_states(domain: Domain, conversations: list[list[Any]], once: None) -> None:
    for events in conversations:
        tracker = DialogueStateTracker.from_events("states", events, domain.slots)
        for omit, ignore, rule_only in OPTIONS:
            expected = RASA_STATES(domain, tracker, omit, ignore, rule_only)
            assert tracker.past_states(domain, omit, ignore, rule_only) == expected
        assert len(tracker.__dict__[dialogue_states.CACHE_ATTRIBUTE]) == 2  # one replay per omit_unset_slots


def test_a_tracker_that_grows_is_worked_out_again(domain: Domain, conversations: list[list[Any]], once: None) -> None:
    for events in conversations[::3]:
        tracker = DialogueStateTracker(sender_id="grows", slots=domain.slots)
        for event in events:
            tracker.update(event)
            for omit, ignore, rule_only in OPTIONS[::3]:
                states = tracker.past_states(domain, omit, ignore, rule_only)
                assert states == RASA_STATES(domain, tracker, omit, ignore, rule_only)


def test_changing_the_returned_states_changes_nothing_kept(domain: Domain, conversations: list[list[Any]],
                                                         once: None) -> None:  # fmt: skip
    tracker = DialogueStateTracker.from_events("kept", max(conversations, key=len), domain.slots)
    tracker.update(SlotSet("service", "mairie"))
    first = tracker.past_states(domain, False, True, RULE_ONLY[1])
    for state in first:
        for sub_state in state.values():
            sub_state.clear()
    assert tracker.past_states(domain, False, True, RULE_ONLY[1]) == RASA_STATES(domain, tracker, False, True,
                                                                                  RULE_ONLY[1])  # fmt: skip
    assert any(state for state in tracker.past_states(domain))
