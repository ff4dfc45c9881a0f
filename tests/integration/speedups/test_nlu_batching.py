"""Messages parsed together (bot/speedups/nlu_batching.py) are understood exactly as each message parsed alone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.loading import load_data

from bot import speedups
from bot.settings import ROOT
from bot.speedups import nlu_batching

pytestmark = pytest.mark.model

EDGE_CASES = ["", "🙂", "?", "PAU-2026-000123", "bonjour " * 40, "il y a un nid de poule avenue de lons"]


PATCHED = [(MessageProcessor, "parse_message"), (MessageProcessor, "fetch_tracker_and_update_session"),
           (DIETClassifier, "process"), (CountVectorsFeaturizer, "process")]  # fmt: skip


@pytest.fixture
def batching(agent: Agent) -> Iterator[MessageProcessor]:
    """The batching installed (twice: idempotent), and Rasa's own methods back afterwards.

    The rasa server installs it before loading the model; the session's model is already loaded, and each graph node
    holds the function it calls since loading: the DIET and count vectorizer nodes are pointed at the installed ones.
    """
    originals = {(owner, name): getattr(owner, name) for owner, name in PATCHED}
    nlu_batching.install()
    nlu_batching.install()  # idempotent
    for (owner, name), original in originals.items():
        assert getattr(owner, name).__wrapped__ is original
    graph_nodes = agent.processor.graph_runner._instantiated_nodes.values()  # type: ignore[union-attr]
    repointed = {node: node._fn for node in graph_nodes if node._fn in originals.values()}
    assert len(repointed) == 3  # DIET and the two count vectorizers
    for node, original in repointed.items():
        node._fn = next(getattr(owner, name) for (owner, name), was in originals.items() if was is original)
    try:
        yield agent.processor  # type: ignore[misc]
    finally:
        for node, original in repointed.items():
            node._fn = original
        speedups.uninstall_all()
        assert all(getattr(owner, name) is original for (owner, name), original in originals.items())
        for attribute in (nlu_batching.BATCHER_ATTRIBUTE, nlu_batching.BATCHABLE_ATTRIBUTE):
            agent.processor.__dict__.pop(attribute, None)  # type: ignore[union-attr]


def training_texts(every: int = 4) -> list[str]:
    data = load_data(str(ROOT / "data" / "nlu"))
    return [m.get("text") for m in data.intent_examples[::every]]


def waiting(text: str) -> Any:
    tracker = DialogueStateTracker.from_events("batch", [])
    return nlu_batching._Waiting(UserMessage(text, sender_id="batch"), tracker, True, None)  # type: ignore[arg-type]


def assert_same_understanding(together: dict[str, Any], alone: dict[str, Any]) -> None:
    """Same intent, ranking and entities; confidences equal to float rounding (the batch pads shorter messages)."""
    text = alone["text"]
    assert together["text"] == text
    assert together["intent"]["name"] == alone["intent"]["name"], text
    assert together["intent"]["confidence"] == pytest.approx(alone["intent"]["confidence"], abs=1e-5), text
    ranking = [(r["name"], pytest.approx(r["confidence"], abs=1e-5)) for r in alone["intent_ranking"]]
    assert [(r["name"], r["confidence"]) for r in together["intent_ranking"]] == ranking, text
    strip = [{k: v for k, v in e.items() if k != "confidence_entity"} for e in alone["entities"]]
    assert [{k: v for k, v in e.items() if k != "confidence_entity"} for e in together["entities"]] == strip, text
    for mine, theirs in zip(together["entities"], alone["entities"], strict=True):
        if "confidence_entity" in theirs:
            assert mine["confidence_entity"] == pytest.approx(theirs["confidence_entity"], abs=1e-5), text


def test_batches_of_every_size_understand_each_message_as_alone(batching: MessageProcessor) -> None:
    texts = training_texts() + EDGE_CASES
    alone = {text: batching._parse_message_with_graph(waiting(text).message, waiting(text).tracker) for text in texts}
    assert sum(bool(parse["entities"]) for parse in alone.values()) >= 10  # entities are compared, not only intents
    sizes, start = [2, 3, 5, 8, 16, 7], 0
    while start < len(texts):
        batch = texts[start : start + sizes[start % len(sizes)]]
        start += len(batch)
        for text, together in zip(
            batch, nlu_batching.parse_together(batching, [waiting(t) for t in batch]), strict=True
        ):
            assert_same_understanding(together, alone[text])


def test_a_batch_gives_each_message_the_features_it_has_alone(batching: MessageProcessor) -> None:
    texts = training_texts(every=9) + EDGE_CASES
    target = batching.model_metadata.nlu_target
    runner = batching.graph_runner

    def features(messages: list[Any]) -> list[list[tuple[Any, ...]]]:
        return [[(f.type, f.attribute, f.origin, f.features) for f in m.features] for m in messages]

    alone = [features(runner.run(inputs={PLACEHOLDER_MESSAGE: [UserMessage(t)]}, targets=[target])[target])[0]
             for t in texts]  # fmt: skip
    together = features(
        runner.run(inputs={PLACEHOLDER_MESSAGE: [UserMessage(t) for t in texts]}, targets=[target])[target]
    )
    assert len(together) == len(alone) == len(texts)
    for text, mine, theirs in zip(texts, together, alone, strict=True):
        assert [f[:3] for f in mine] == [f[:3] for f in theirs], text
        assert sum("CountVectors" in str(f[2]) for f in mine) >= (4 if text.strip() else 0), text
        for (_, _, _, matrix), (_, _, _, expected) in zip(mine, theirs, strict=True):
            if hasattr(expected, "tocoo"):
                assert type(matrix) is type(expected) and matrix.dtype == expected.dtype, text
                assert matrix.shape == expected.shape, text
                for part in ("data", "row", "col"):
                    assert (getattr(matrix, part) == getattr(expected, part)).all(), text
            else:
                assert (matrix == expected).all(), text


def test_diet_predicts_a_batch_in_one_tensorflow_call(
    batching: MessageProcessor, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes = batching.graph_runner._instantiated_nodes.values()  # type: ignore[attr-defined]
    diet = next(node._component for node in nodes if isinstance(getattr(node, "_component", None), DIETClassifier))
    calls: list[int] = []
    run_inference = diet.model.run_inference

    def counted(model_data: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(model_data.number_of_examples())
        return run_inference(model_data, *args, **kwargs)

    monkeypatch.setattr(diet.model, "run_inference", counted)
    texts = ["la mairie est ouverte ?", "et son adresse", "nid de poule rue Serviez", "merci"]
    nlu_batching.parse_together(batching, [waiting(t) for t in texts])
    assert calls == [4]
    # A message without tokens cannot join a batch: the batch is predicted message by message, as Rasa does.
    calls.clear()
    nlu_batching.parse_together(batching, [waiting(t) for t in ["", *texts]])
    assert calls == [1, 1, 1, 1]  # DIET predicts nothing for the empty message


async def test_messages_arriving_together_share_one_nlu_run(
    batching: MessageProcessor, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = batching.graph_runner
    runs: list[int] = []
    run = runner.run

    def counted(inputs: dict[str, Any], targets: list[str]) -> Any:
        if PLACEHOLDER_MESSAGE in inputs:
            runs.append(len(inputs[PLACEHOLDER_MESSAGE]))
        return run(inputs=inputs, targets=targets)

    monkeypatch.setattr(runner, "run", counted)
    texts = ["bonjour", "la piscine ferme a quelle heure ?", "PAU-2026-000123 ou en est mon signalement", "merci"]
    together = await asyncio.gather(
        *(batching.parse_message(UserMessage(t, sender_id=f"c{i}")) for i, t in enumerate(texts))
    )
    assert runs == [4]
    one_by_one = [await batching.parse_message(UserMessage(t, sender_id="seul")) for t in texts]
    assert runs == [4, 1, 1, 1, 1]  # a message alone is parsed at once, in a run of its own
    for mine, theirs in zip(together, one_by_one, strict=True):
        assert_same_understanding(mine, theirs)
    assert [p["intent"]["name"] for p in together][0] == "greet"


async def test_a_batch_waits_briefly_for_a_message_reading_its_conversation(
    batching: MessageProcessor, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, store = batching.graph_runner, batching.tracker_store
    runs: list[list[str]] = []
    run, retrieve = runner.run, store.retrieve

    def counted(inputs: dict[str, Any], targets: list[str]) -> Any:
        if PLACEHOLDER_MESSAGE in inputs:
            runs.append([m.text for m in inputs[PLACEHOLDER_MESSAGE]])
        return run(inputs=inputs, targets=targets)

    async def slow_retrieve(sender_id: str) -> Any:
        await asyncio.sleep(0.001)  # a store's round trip
        return await retrieve(sender_id)

    monkeypatch.setattr(runner, "run", counted)
    monkeypatch.setattr(store, "retrieve", slow_retrieve)
    default_wait = nlu_batching.MAX_WAIT_SECONDS
    monkeypatch.setattr(nlu_batching, "MAX_WAIT_SECONDS", 0.5)  # a loaded test machine may be slow to come back
    logged = asyncio.ensure_future(
        batching.log_message(UserMessage("merci", sender_id="lente"), should_save_tracker=False)
    )
    await asyncio.sleep(0)  # that message is now reading its conversation
    parse = await batching.parse_message(UserMessage("bonjour", sender_id="rapide"))
    tracker = await logged
    assert runs == [["bonjour", "merci"]]
    assert parse["intent"]["name"] == "greet"
    assert tracker.latest_message.intent["name"] == "thank"

    # The wait is bounded: a conversation that takes long to read does not hold the others back.
    async def stuck_retrieve(sender_id: str) -> Any:
        await asyncio.sleep(1)
        return await retrieve(sender_id)

    monkeypatch.setattr(store, "retrieve", stuck_retrieve)
    monkeypatch.setattr(nlu_batching, "MAX_WAIT_SECONDS", default_wait)
    runs.clear()
    logged = asyncio.ensure_future(
        batching.log_message(UserMessage("merci", sender_id="bloquee"), should_save_tracker=False)
    )
    await asyncio.sleep(0)
    started = asyncio.get_running_loop().time()
    await batching.parse_message(UserMessage("bonjour", sender_id="rapide"))
    assert asyncio.get_running_loop().time() - started < 0.5
    assert runs == [["bonjour"]]
    await logged
    assert runs == [["bonjour"], ["merci"]]


async def test_a_message_that_breaks_the_nlu_fails_alone(
    batching: MessageProcessor, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = batching.graph_runner
    run = runner.run

    def fragile(inputs: dict[str, Any], targets: list[str]) -> Any:
        if any(m.text == "panne" for m in inputs.get(PLACEHOLDER_MESSAGE, [])):
            raise RuntimeError("panne")
        return run(inputs=inputs, targets=targets)

    monkeypatch.setattr(runner, "run", fragile)
    texts = ["bonjour", "panne", "merci"]
    results = await asyncio.gather(*(batching.parse_message(UserMessage(t)) for t in texts), return_exceptions=True)
    assert results[0]["intent"]["name"] == "greet"  # type: ignore[index]
    assert isinstance(results[1], RuntimeError) and str(results[1]) == "panne"
    assert results[2]["intent"]["name"] == "thank"  # type: ignore[index]


async def test_a_caller_that_gave_up_does_not_hold_up_the_others(batching: MessageProcessor) -> None:
    gone = asyncio.ensure_future(batching.parse_message(UserMessage("bonjour")))
    stays = asyncio.ensure_future(batching.parse_message(UserMessage("merci")))
    await asyncio.sleep(0)  # both wait for the batch
    gone.cancel()
    parse = await asyncio.wait_for(stays, 30)
    assert parse["intent"]["name"] == "thank"
    assert gone.cancelled()


def test_only_a_pipeline_that_ignores_the_conversation_is_batched(agent: Agent) -> None:
    assert not nlu_batching.nlu_reads_tracker(agent.processor)  # type: ignore[arg-type]

    def processor(needs: dict[str, dict[str, str]]) -> Any:
        nodes = {name: SimpleNamespace(needs=node_needs) for name, node_needs in needs.items()}
        schema = SimpleNamespace(nodes=nodes)
        return SimpleNamespace(model_metadata=SimpleNamespace(nlu_target="end", predict_schema=schema))

    assert nlu_batching.nlu_reads_tracker(processor({"end": {"m": "a"}, "a": {"tracker": PLACEHOLDER_TRACKER}}))
    assert not nlu_batching.nlu_reads_tracker(processor({"end": {"m": "a"}, "a": {"messages": PLACEHOLDER_MESSAGE},
                                                         "policy": {"tracker": PLACEHOLDER_TRACKER}}))  # fmt: skip
