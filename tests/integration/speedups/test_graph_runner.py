"""Graph runs replayed in dask's order (bot/speedups/graph_runner.py) give exactly what Rasa's dask runs give."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import speedups
from bot.speedups import graph_runner

pytestmark = pytest.mark.model

TEXTS = ["la mairie est ouverte ?", "et son adresse", "nid de poule avenue de lons", "PAU-2026-000123", "", "🙂"]
OUTPUT_KEYS = ("intent", "intent_ranking", "entities")


@pytest.fixture
def dask_run(agent: Agent) -> Iterator[Callable[..., dict[str, Any]]]:
    """Rasa's own run (through dask), while every runner replays; Rasa's runner again afterwards."""
    original = speedups.original(DaskGraphRunner, "run")
    try:
        with speedups.installed(graph_runner):
            graph_runner.install()  # idempotent: one wrapper, not two
            assert DaskGraphRunner.run.__wrapped__ is original  # type: ignore[attr-defined]
            yield original
        assert DaskGraphRunner.run is original
    finally:
        agent.processor.graph_runner.__dict__.pop(graph_runner.PLANS_ATTRIBUTE, None)  # type: ignore[union-attr]


def parsed(outputs: dict[str, Any], target: str) -> list[dict[str, Any]]:
    return [{key: message.get(key) for key in OUTPUT_KEYS} for message in outputs[target]]


def test_nlu_runs_are_replayed_without_dask_and_give_its_outputs(
    agent: Agent, dask_run: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = agent.processor.graph_runner  # type: ignore[union-attr]
    target = agent.processor.model_metadata.nlu_target  # type: ignore[union-attr]
    runner.run(inputs={PLACEHOLDER_MESSAGE: [UserMessage("bonjour")]}, targets=[target])  # records dask's order
    plan = runner.__dict__[graph_runner.PLANS_ATTRIBUTE][((target,), frozenset({PLACEHOLDER_MESSAGE}))]
    assert plan[-1][0] == target
    assert {name for name, _ in plan} == set(runner._graph_schema.minimal_graph_schema([target]).nodes)

    expected = {text: parsed(dask_run(runner, {PLACEHOLDER_MESSAGE: [UserMessage(text)]}, [target]), target)
                for text in TEXTS}  # fmt: skip
    monkeypatch.setattr("rasa.engine.runner.dask.dask.get", lambda *args: pytest.fail("dask was asked again"))
    for text in TEXTS:
        replayed = parsed(runner.run(inputs={PLACEHOLDER_MESSAGE: [UserMessage(text)]}, targets=[target]), target)
        assert replayed == expected[text], text
        assert replayed[0]["intent"]["name"]


def test_policy_runs_give_dasks_predictions(agent: Agent, dask_run: Callable[..., dict[str, Any]]) -> None:
    runner = agent.processor.graph_runner  # type: ignore[union-attr]
    target = agent.processor.model_metadata.core_target  # type: ignore[union-attr]
    events: list[Any] = [ActionExecuted("action_listen")]
    for intent, action in [("greet", "utter_greet"), ("ask_opening_hours", "action_opening_hours"), ("thank", None)]:
        events.append(UserUttered(intent, {"name": intent, "confidence": 1.0}))
        tracker = DialogueStateTracker.from_events("replay", events, agent.domain.slots)  # type: ignore[union-attr]
        replayed = runner.run(inputs={PLACEHOLDER_TRACKER: tracker}, targets=[target])[target]
        expected = dask_run(runner, {PLACEHOLDER_TRACKER: tracker}, [target])[target]
        assert replayed.probabilities == expected.probabilities
        assert (replayed.policy_name, replayed.events) == (expected.policy_name, expected.events)
        assert max(replayed.probabilities) > 0
        if action:
            events += [ActionExecuted(action), ActionExecuted("action_listen")]


def test_a_failing_node_fails_as_under_dask(agent: Agent, dask_run: Callable[..., dict[str, Any]]) -> None:
    runner = agent.processor.graph_runner  # type: ignore[union-attr]
    target = agent.processor.model_metadata.nlu_target  # type: ignore[union-attr]
    runner.run(inputs={PLACEHOLDER_MESSAGE: [UserMessage("bonjour")]}, targets=[target])
    with pytest.raises(GraphRunError, match="clashes with a node name"):
        runner.run(inputs={PLACEHOLDER_MESSAGE: target}, targets=[target])

    def broken(*inputs: Any) -> Any:
        raise RuntimeError("panne")

    nodes = runner._instantiated_nodes
    runner._instantiated_nodes = dict(nodes, **{target: broken})
    try:
        with pytest.raises(GraphRunError, match="Error running runner") as replayed:
            runner.run(inputs={PLACEHOLDER_MESSAGE: [UserMessage("bonjour")]}, targets=[target])
        with pytest.raises(GraphRunError, match="Error running runner") as by_dask:
            dask_run(runner, {PLACEHOLDER_MESSAGE: [UserMessage("bonjour")]}, [target])
    finally:
        runner._instantiated_nodes = nodes
    assert str(replayed.value.__cause__) == str(by_dask.value.__cause__) == "panne"
