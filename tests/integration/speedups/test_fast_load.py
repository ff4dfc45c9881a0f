"""The fast model loading of the rasa server (bot/speedups/fast_load.py) predicts exactly what Rasa's own does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from rasa.core.agent import Agent
from rasa.core.policies.ted_policy import TEDPolicy
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.loading import load_data
from rasa.utils.tensorflow.models import RasaModel

from bot import speedups
from bot.runtime.train import model_path
from bot.settings import ROOT, get_settings
from bot.speedups import fast_load

pytestmark = pytest.mark.model


FAST_LOADS: list[str] = []


@pytest.fixture(scope="module")
def fast_agent(agent: Agent) -> Iterator[Agent]:
    """The same model as the session's `agent` (loaded by Rasa), loaded the fast way."""
    original_load, original_fast = RasaModel.__dict__["load"], fast_load.load_for_prediction

    def counted(cls: Any, *args: Any, **kwargs: Any) -> Any:
        FAST_LOADS.append(cls.__name__)
        return original_fast(cls, *args, **kwargs)

    fast_load.load_for_prediction = counted
    try:
        with speedups.installed(fast_load):  # the rest of the session keeps Rasa's own loading
            yield Agent.load(str(model_path(get_settings().models_dir)))
    finally:
        fast_load.load_for_prediction = original_fast
    assert RasaModel.__dict__["load"] is original_load


def component(agent: Agent, kind: type) -> Any:
    nodes = agent.processor.graph_runner._instantiated_nodes  # type: ignore[union-attr]
    found = [node._component for node in nodes.values() if isinstance(node._component, kind)]
    assert len(found) == 1
    return found[0]


def test_diet_and_ted_were_loaded_the_fast_way(fast_agent: Agent) -> None:
    assert sorted(FAST_LOADS) == ["DIET", "TED"]
    assert component(fast_agent, DIETClassifier).model is not None


async def test_intents_entities_and_confidences_are_identical(agent: Agent, fast_agent: Agent) -> None:
    texts = [m.get("text") for m in load_data(str(ROOT / "data" / "nlu")).intent_examples][::5]
    texts += ["", "ok", "PAU-2026-000123", "qsdfghjk", "🙂", "x" * 2000]
    for text in texts:
        expected, actual = await agent.parse_message(text), await fast_agent.parse_message(text)
        assert actual["intent"]["name"] == expected["intent"]["name"], text
        ranking = {r["name"]: r["confidence"] for r in expected["intent_ranking"]}
        assert {r["name"]: pytest.approx(r["confidence"], abs=1e-6) for r in actual["intent_ranking"]} == ranking
        assert [(e["entity"], e.get("value"), e["start"], e["end"]) for e in actual["entities"]] == [
            (e["entity"], e.get("value"), e["start"], e["end"]) for e in expected["entities"]
        ], text


@pytest.mark.parametrize(
    "turns",
    [
        [("greet", "utter_greet"), ("ask_opening_hours", None)],
        [("ask_service_location", "action_service_location"), ("inform", None)],
        [("report_problem", "report_form"), ("deny", None)],
        [("thank", "utter_you_are_welcome"), ("goodbye", None)],
    ],
)
def test_dialogue_probabilities_are_identical(agent: Agent, fast_agent: Agent, turns: list) -> None:
    events: list[Any] = [ActionExecuted("action_listen")]
    for intent, action in turns:
        events.append(UserUttered(intent, {"name": intent, "confidence": 1.0}))
        if action:
            events += [ActionExecuted(action), ActionExecuted("action_listen")]
    domain = agent.domain
    tracker = DialogueStateTracker.from_events("fast-load", events, domain.slots)
    expected = component(agent, TEDPolicy).predict_action_probabilities(tracker, domain)
    actual = component(fast_agent, TEDPolicy).predict_action_probabilities(tracker, domain)
    assert np.allclose(actual.probabilities, expected.probabilities, atol=1e-6)
    assert max(expected.probabilities) > 0


async def test_the_prediction_step_is_called_flat_with_the_same_outputs(fast_agent: Agent) -> None:
    import tensorflow as tf

    for kind in (DIETClassifier, TEDPolicy):
        policy_or_classifier = component(fast_agent, kind)
        model = policy_or_classifier.model
        step = model._tf_predict_step
        assert isinstance(step, fast_load.FlatPredictStep)
        batches: list[Any] = []
        original = model._rasa_predict
        model._rasa_predict = lambda batch_in, original=original: batches.append(batch_in) or original(batch_in)
        try:
            if kind is DIETClassifier:
                for text in ("la mairie est ouverte ?", "nid de poule avenue de lons", "x"):
                    await fast_agent.parse_message(text)
            else:
                domain = fast_agent.domain
                events = [ActionExecuted("action_listen"), UserUttered("", {"name": "greet", "confidence": 1.0})]
                tracker = DialogueStateTracker.from_events("flat-step", events, domain.slots)
                TEDPolicy.predict_action_probabilities(policy_or_classifier, tracker, domain)  # past TED's cache
        finally:
            model._rasa_predict = original
        assert batches
        for batch_in in batches:
            flat, traced = tf.nest.flatten(step(batch_in)), tf.nest.flatten(step.step(batch_in))
            assert len(flat) == len(traced) > 0
            assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(flat, traced, strict=True))
