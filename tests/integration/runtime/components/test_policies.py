"""CachedTEDPolicy (bot/runtime/components/policies.py) predicts what TED computes, for every state of the stories."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from rasa.core.agent import Agent
from rasa.core.policies.ted_policy import TEDPolicy
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.generator import TrainingDataGenerator
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.importers.importer import TrainingDataImporter

from bot import speedups
from bot.runtime.components.policies import CachedTEDPolicy
from bot.settings import ROOT

pytestmark = pytest.mark.model


@pytest.fixture(autouse=True)
def cache_on() -> Iterator[None]:
    """The cache works only while the speed-ups are active, as in the rasa server with RASA_SPEEDUPS=on."""
    with speedups.installed():
        yield


def ted(agent: Agent) -> CachedTEDPolicy:
    nodes = agent.processor.graph_runner._instantiated_nodes  # type: ignore[union-attr]
    found = [node._component for node in nodes.values() if isinstance(node._component, TEDPolicy)]
    assert len(found) == 1
    assert isinstance(found[0], CachedTEDPolicy), "config.yml should name CachedTEDPolicy"
    return found[0]


def story_prefixes(agent: Agent) -> list[DialogueStateTracker]:
    """A tracker for every point of every training story where the assistant chooses its next action."""
    importer = TrainingDataImporter.load_from_dict(
        domain_path=str(ROOT / "domain.yml"), training_data_paths=[str(ROOT / "data" / "stories")]
    )
    trackers = TrainingDataGenerator(importer.get_stories(), agent.domain, augmentation_factor=0).generate()
    prefixes = []
    for tracker in trackers:
        events = list(tracker.events)
        for index, event in enumerate(events):
            if isinstance(event, ActionExecuted) and index > 0:
                prefixes.append(DialogueStateTracker.from_events(tracker.sender_id, events[:index], agent.domain.slots))
    return prefixes


def test_cached_predictions_equal_ted_for_every_story_state(agent: Agent) -> None:
    policy = ted(agent)
    prefixes = story_prefixes(agent)
    assert len(prefixes) > 50
    misses_before, hits_before = policy.cache_misses, policy.cache_hits
    for tracker in prefixes:
        expected = TEDPolicy.predict_action_probabilities(policy, tracker, agent.domain)
        first = policy.predict_action_probabilities(tracker, agent.domain)
        again = policy.predict_action_probabilities(tracker, agent.domain)
        assert first.policy_name == again.policy_name == "CachedTEDPolicy"
        assert np.allclose(first.probabilities, expected.probabilities, atol=1e-6), tracker.events
        assert again.probabilities == first.probabilities
    # Every second call was answered from the cache; stories share states, so fewer misses than prefixes.
    assert policy.cache_hits - hits_before >= len(prefixes)
    assert 0 < policy.cache_misses - misses_before < len(prefixes)


def test_a_different_state_is_not_answered_from_the_cache(agent: Agent) -> None:
    policy = ted(agent)

    def tracker(*extra: Any) -> DialogueStateTracker:
        events = [ActionExecuted("action_listen"), *extra,
                  UserUttered("ok", {"name": "affirm", "confidence": 1.0}), ]  # fmt: skip
        return DialogueStateTracker.from_events("cache", events, agent.domain.slots)

    plain = tracker()
    with_context = tracker(UserUttered("signaler", {"name": "report_problem", "confidence": 1.0}),
                           ActionExecuted("report_form"), ActionExecuted("action_listen"))  # fmt: skip
    assert policy._state_key(plain, agent.domain, None) != policy._state_key(with_context, agent.domain, None)
    with_slot = tracker(SlotSet("catalog_topic", "hours"))
    assert policy._state_key(plain, agent.domain, None) != policy._state_key(with_slot, agent.domain, None)
    for state in (plain, with_context, with_slot):
        expected = TEDPolicy.predict_action_probabilities(policy, state, agent.domain)
        assert np.allclose(policy.predict_action_probabilities(state, agent.domain).probabilities,
                           expected.probabilities, atol=1e-6)  # fmt: skip


def test_callers_cannot_change_a_cached_prediction(agent: Agent) -> None:
    policy = ted(agent)
    events = [ActionExecuted("action_listen"), UserUttered("bonjour", {"name": "greet", "confidence": 1.0})]
    tracker = DialogueStateTracker.from_events("cache-copy", events, agent.domain.slots)
    first = policy.predict_action_probabilities(tracker, agent.domain)
    best = int(np.argmax(first.probabilities))
    first.probabilities[best] = 0.0  # what the ensemble does to a rejected action
    again = policy.predict_action_probabilities(tracker, agent.domain)
    assert again.probabilities[best] > 0.0


def test_with_the_speed_ups_off_every_prediction_is_teds_own(agent: Agent) -> None:
    policy = ted(agent)
    events = [ActionExecuted("action_listen"), UserUttered("bonjour", {"name": "greet", "confidence": 1.0})]
    tracker = DialogueStateTracker.from_events("cache-off", events, agent.domain.slots)
    policy.predict_action_probabilities(tracker, agent.domain)  # in the cache now
    speedups.uninstall_all()
    assert not speedups.active()
    misses, hits = policy.cache_misses, policy.cache_hits
    for _ in range(2):
        policy.predict_action_probabilities(tracker, agent.domain)
    assert (policy.cache_misses, policy.cache_hits) == (misses, hits)
