"""Rules looked up once per dialogue state (bot/speedups/rule_lookup.py) give RulePolicy's own predictions."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from rasa.core.agent import Agent
from rasa.core.policies.rule_policy import RulePolicy
from rasa.core.training import load_data
from rasa.shared.core.events import ActionExecuted
from rasa.shared.core.trackers import DialogueStateTracker

from bot import speedups
from bot.settings import ROOT
from bot.speedups import rule_lookup

pytestmark = pytest.mark.model


@pytest.fixture
def rules(agent: Agent) -> Iterator[RulePolicy]:
    original = speedups.original(RulePolicy, "_get_possible_keys")
    nodes = agent.processor.graph_runner._instantiated_nodes.values()  # type: ignore[union-attr]
    policy = next(node._component for node in nodes if isinstance(getattr(node, "_component", None), RulePolicy))
    try:
        with speedups.installed(rule_lookup):
            rule_lookup.install()  # idempotent
            assert RulePolicy._get_possible_keys.__wrapped__ is original  # type: ignore[attr-defined]
            yield policy
        assert RulePolicy._get_possible_keys is original
    finally:
        policy.__dict__.pop(rule_lookup.CACHE_ATTRIBUTE, None)


def prefixes(agent: Agent) -> Iterator[DialogueStateTracker]:
    """Every story, rule and test conversation, cut before each of its actions."""
    domain = agent.domain
    for resource in ("data/stories", "data/rules", "tests/test_conversation.yml", "tests/test_tickets.yml"):
        for story in load_data(str(ROOT / resource), domain, augmentation_factor=0, remove_duplicates=False):
            events = [copy.copy(event) for event in story.events]
            for end, event in enumerate(events):
                if isinstance(event, ActionExecuted) and end:
                    yield DialogueStateTracker.from_events("rules", events[:end], domain.slots)  # type: ignore[union-attr]


def test_every_prediction_is_rulepolicys(agent: Agent, rules: RulePolicy, monkeypatch: pytest.MonkeyPatch) -> None:
    def predict(tracker: DialogueStateTracker) -> Any:
        prediction = rules.predict_action_probabilities(tracker, agent.domain)  # type: ignore[arg-type]
        return prediction.probabilities, prediction.events, prediction.optional_events, prediction.action_metadata

    trackers = list(prefixes(agent))
    assert len(trackers) > 200
    with monkeypatch.context() as rasas_own:
        rasas_own.setattr(RulePolicy, "_get_possible_keys", RulePolicy._get_possible_keys.__wrapped__)  # type: ignore[attr-defined]
        expected = [predict(tracker) for tracker in trackers]
    assert rules.__dict__.get(rule_lookup.CACHE_ATTRIBUTE) is None
    for tracker, rasas in zip(trackers, expected, strict=True):
        assert predict(tracker) == rasas  # filled the cache...
        assert predict(tracker) == rasas  # ...and answered from it
    cache = rules.__dict__[rule_lookup.CACHE_ATTRIBUTE]
    assert 0 < len(cache) <= rule_lookup.CACHE_SIZE
    assert any(max(probabilities) > 0 for probabilities, *_ in expected)


def test_the_cache_is_bounded(rules: RulePolicy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rule_lookup, "CACHE_SIZE", 3)
    lookup = rules.lookup["rules"]
    for number in range(10):
        assert rules._get_possible_keys(lookup, [{"user": {"intent": f"i{number}"}}]) <= set(lookup)
    assert len(rules.__dict__[rule_lookup.CACHE_ATTRIBUTE]) == 3
