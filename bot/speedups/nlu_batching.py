"""Messages that reach the NLU together are understood together: one pipeline run, one DIET call for all of them.

Replaces `MessageProcessor.parse_message` and `.fetch_tracker_and_update_session`, `DIETClassifier.process` and
`CountVectorsFeaturizer.process`. Under load, a rasa process has several conversations in flight; while one message
holds the CPU, others come back from the tracker store and wait for their turn of the event loop. Rasa 3.6 then
parses them one by one, and DIET runs its TensorFlow graph once per message, although the graph costs about the
same for a few messages as for one.

Here a message's parse waits for the end of the event loop's current turn, and a little longer (MAX_WAIT_SECONDS at
most) while other messages of the process are reading their conversation from the store, the step just before their
parse; every message waiting then goes through the NLU graph in one run, DIET predicts them in one batch, and each
count vectorizer featurizes them in two calls instead of two per message. A message alone (one conversation, a quiet
hour) is parsed at once, as before. Results are Rasa's own: DIET's batch slices each message's outputs back to its own
length, so intents, rankings and entities are those of a message parsed alone (confidences equal to float
rounding). A batch that fails is parsed again message by message, so that each message gets its own result or its
own error, as without batching.

Batching applies only when no node of the NLU graph reads the conversation (the tracker): the batch runs with one
conversation's tracker. Rasa's default NLU components never read it; a pipeline that does is parsed one by one.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import structlog
from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.nlu.constants import DENSE_FEATURIZABLE_ATTRIBUTES, TOKENS_NAMES
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.utils.tensorflow.constants import ENTITY_RECOGNITION, INTENT_CLASSIFICATION

from bot.speedups._patching import replace

logger = logging.getLogger(__name__)
structlogger = structlog.get_logger()

# A batch waits for messages of the same process that are reading their conversation (their parse comes next), at
# most this long after its first message; the event loop serves other conversations meanwhile.
TARGETS = (
    "rasa.core.processor.MessageProcessor.parse_message",
    "rasa.core.processor.MessageProcessor.fetch_tracker_and_update_session",
    "rasa.nlu.classifiers.diet_classifier.DIETClassifier.process",
    "rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer.CountVectorsFeaturizer.process",
)
MAX_WAIT_SECONDS = 0.004
POLL_SECONDS = 0.0005
BATCHER_ATTRIBUTE = "_guichet_nlu_batcher"
BATCHABLE_ATTRIBUTE = "_guichet_nlu_batchable"


@dataclass
class _Waiting:
    """A message waiting for the next batch, and where its parse goes."""

    message: UserMessage
    tracker: DialogueStateTracker
    only_output_properties: bool
    future: asyncio.Future[dict[str, Any]]


class _Batcher:
    """The messages of one processor waiting for the end of the event loop's turn."""

    def __init__(self, processor: MessageProcessor) -> None:
        self.processor = processor
        self.loop: asyncio.AbstractEventLoop | None = None
        self.waiting: list[_Waiting] = []
        self.fetching = 0  # messages of this processor reading their conversation, the NLU comes next for them
        self.deadline = 0.0

    def on(self, loop: asyncio.AbstractEventLoop) -> asyncio.AbstractEventLoop:
        """This batcher, on the running event loop (a new loop, in tests: nothing of the old one is still served)."""
        if loop is not self.loop:
            self.loop, self.waiting, self.fetching = loop, [], 0
        return loop

    def parse(
        self, message: UserMessage, tracker: DialogueStateTracker, only_output_properties: bool
    ) -> asyncio.Future[dict[str, Any]]:
        loop = self.on(asyncio.get_running_loop())
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.waiting.append(_Waiting(message, tracker, only_output_properties, future))
        if len(self.waiting) == 1:
            self.deadline = loop.time() + MAX_WAIT_SECONDS
            loop.call_soon(self.flush)
        return future

    def flush(self) -> None:
        if self.fetching and self.loop is not None and self.loop.time() < self.deadline:
            self.loop.call_later(POLL_SECONDS, self.flush)  # messages about to join: wait for them, briefly
            return
        batch = [w for w in self.waiting if not w.future.done()]  # a cancelled caller needs no parse
        self.waiting = []
        if not batch:
            return
        try:
            results = parse_together(self.processor, batch)
        except Exception:  # noqa: BLE001 - each message is parsed alone: its own result, or its own error
            if len(batch) > 1:
                logger.warning("A batch of %d messages failed in the NLU; parsing them one by one.", len(batch))
            for waiting in batch:
                try:
                    _settle(waiting, self.processor._parse_message_with_graph(
                        waiting.message, waiting.tracker, waiting.only_output_properties))  # fmt: skip
                except Exception as error:  # noqa: BLE001 - handed to the message's own caller
                    if not waiting.future.done():
                        waiting.future.set_exception(error)
            return
        for waiting, result in zip(batch, results, strict=True):
            _settle(waiting, result)


def _settle(waiting: _Waiting, result: dict[str, Any]) -> None:
    """Hand a message's parse to its caller, unless the caller has given up."""
    if not waiting.future.done():
        waiting.future.set_result(result)


def parse_together(processor: MessageProcessor, batch: list[_Waiting]) -> list[dict[str, Any]]:
    """Rasa's `_parse_message_with_graph` for several messages in one run of the NLU graph."""
    target = processor.model_metadata.nlu_target
    results = processor.graph_runner.run(
        inputs={PLACEHOLDER_MESSAGE: [w.message for w in batch], PLACEHOLDER_TRACKER: batch[0].tracker},
        targets=[target],
    )
    parsed_messages = results[target]
    if len(parsed_messages) != len(batch):
        raise RuntimeError(f"the NLU graph returned {len(parsed_messages)} messages for {len(batch)}")
    parses = []
    for waiting, parsed_message in zip(batch, parsed_messages, strict=True):
        parse_data: dict[str, Any] = {
            TEXT: "",
            INTENT: {INTENT_NAME_KEY: None, PREDICTED_CONFIDENCE_KEY: 0.0},
            ENTITIES: [],
        }
        parse_data.update(parsed_message.as_dict(only_output_properties=waiting.only_output_properties))
        parses.append(parse_data)
    return parses


def nlu_reads_tracker(processor: MessageProcessor) -> bool:
    """Whether a node the NLU target depends on needs the conversation's tracker."""
    nodes = processor.model_metadata.predict_schema.nodes
    seen: set[str] = set()
    todo = [processor.model_metadata.nlu_target]
    while todo:
        name = todo.pop()
        if name in seen or name not in nodes:
            continue
        seen.add(name)
        for needed in nodes[name].needs.values():
            if needed == PLACEHOLDER_TRACKER:
                return True
            todo.append(needed)
    return False


def batchable(processor: MessageProcessor) -> bool:
    """Whether this processor's messages may be parsed in batches (computed once per processor)."""
    cached = processor.__dict__.get(BATCHABLE_ATTRIBUTE)
    if cached is None:
        cached = processor.__dict__[BATCHABLE_ATTRIBUTE] = not nlu_reads_tracker(processor)
        if not cached:
            logger.info("The NLU pipeline reads the conversation: messages are parsed one by one.")
    return bool(cached)


def _batcher(processor: MessageProcessor) -> _Batcher:
    batcher = processor.__dict__.get(BATCHER_ATTRIBUTE)
    if batcher is None:
        batcher = processor.__dict__[BATCHER_ATTRIBUTE] = _Batcher(processor)
    return batcher  # type: ignore[no-any-return]


def predict_batch(diet: DIETClassifier, messages: list[Any]) -> list[dict[str, Any]] | None:
    """DIET's outputs for each message, from one TensorFlow call; None when the batch cannot be made."""
    tokens = [message.get(TOKENS_NAMES[TEXT]) for message in messages]
    if diet.model is None or not all(tokens):
        return None
    model_data = diet._create_model_data(messages, training=False)
    if model_data.is_empty() or model_data.number_of_examples() != len(messages):
        return None
    outputs = diet.model.run_inference(model_data, batch_size=len(messages))
    return [_one_message(outputs, index, len(message_tokens) + 1) for index, message_tokens in enumerate(tokens)]


def _one_message(outputs: dict[str, Any], index: int, length: int) -> dict[str, Any]:
    """One message's share of a batch's outputs, shaped as DIET's outputs for that message alone.

    Entity outputs run over the message's tokens and its sentence position (`length`); the batch pads them to its
    longest message, and DIET alone would not have those positions.
    """
    own: dict[str, Any] = {}
    for key, value in outputs.items():
        if isinstance(value, np.ndarray):
            value = value[index : index + 1]
            if key.startswith("e_") and value.ndim >= 2:
                value = value[:, :length]
            own[key] = value
        elif isinstance(value, dict):
            own[key] = _one_message(value, index, length)
        else:
            own[key] = value
    return own


def install() -> None:
    """Batch the NLU of messages that arrive together, in every processor and DIET of this process."""
    replace(MessageProcessor, "parse_message", batched_parse, by=__name__)
    replace(MessageProcessor, "fetch_tracker_and_update_session", counted_fetch, by=__name__)
    replace(DIETClassifier, "process", batched_diet, by=__name__)
    replace(CountVectorsFeaturizer, "process", batched_count, by=__name__)


def batched_parse(original_parse: Callable[..., Any]) -> Callable[..., Any]:
    """Rasa's `parse_message`, the NLU itself run in a batch with the messages that wait beside this one."""

    @functools.wraps(original_parse)
    async def parse_message(
        self: MessageProcessor,
        message: UserMessage,
        tracker: DialogueStateTracker | None = None,
        only_output_properties: bool = True,
    ) -> dict[str, Any]:
        if self.http_interpreter or not batchable(self):
            return await original_parse(self, message, tracker, only_output_properties)
        if tracker is None:
            tracker = DialogueStateTracker.from_events(message.sender_id, [])
        parse_data = await _batcher(self).parse(message, tracker, only_output_properties)
        # The rest of Rasa's parse_message, as it is.
        self._update_full_retrieval_intent(parse_data)
        structlogger.debug(
            "processor.message.parse",
            parse_data_text=copy.deepcopy(parse_data["text"]),
            parse_data_intent=parse_data["intent"],
            parse_data_entities=copy.deepcopy(parse_data["entities"]),
        )
        self._check_for_unseen_features(parse_data)
        return parse_data

    return parse_message


def batched_diet(original_process: Callable[..., Any]) -> Callable[..., Any]:
    """DIET's `process`, several messages predicted in one TensorFlow call."""

    @functools.wraps(original_process)
    def process(self: DIETClassifier, messages: list[Any]) -> list[Any]:
        if len(messages) < 2 or self._execution_context.should_add_diagnostic_data:
            return original_process(self, messages)
        outputs = predict_batch(self, messages)
        if outputs is None:
            return original_process(self, messages)
        for message, out in zip(messages, outputs, strict=True):
            _apply(self, message, out)
        return messages

    return process


def counted_fetch(original_fetch: Callable[..., Any]) -> Callable[..., Any]:
    """Rasa's `fetch_tracker_and_update_session`, counted so that a batch knows who is about to parse."""

    @functools.wraps(original_fetch)
    async def fetch_tracker_and_update_session(self: MessageProcessor, *args: Any, **kwargs: Any) -> Any:
        batcher = _batcher(self)
        loop = batcher.on(asyncio.get_running_loop())
        batcher.fetching += 1
        try:
            return await original_fetch(self, *args, **kwargs)
        finally:
            if batcher.loop is loop:
                batcher.fetching -= 1

    return fetch_tracker_and_update_session


def batched_count(original_count: Callable[..., Any]) -> Callable[..., Any]:
    """A count vectorizer's `process`, a batch featurized in two vectorizer calls."""

    @functools.wraps(original_count)
    def count(self: CountVectorsFeaturizer, messages: list[Any]) -> list[Any]:
        if len(messages) < 2 or self.vectorizers is None:
            return original_count(self, messages)
        for attribute in self._attributes:
            count_together(self, attribute, messages)
        return messages

    return count


def count_together(featurizer: CountVectorsFeaturizer, attribute: str, messages: list[Any]) -> None:
    """CountVectorsFeaturizer.process for one attribute of several messages, with two vectorizer calls in all.

    Rasa calls the vectorizer twice per message (its tokens, then its sentence); a vectorizer's rows are independent
    of one another, so all the messages' tokens go in one call and all their sentences in another, and each message
    gets its own rows, exactly as alone. Messages without tokens for the attribute are featurized as Rasa does.
    """
    all_tokens = [featurizer._get_processed_message_tokens_by_attribute(m, attribute) for m in messages]
    vectorizer = featurizer.vectorizers.get(attribute)
    if vectorizer is None or attribute not in DENSE_FEATURIZABLE_ATTRIBUTES or not all(all_tokens):
        for message, tokens in zip(messages, all_tokens, strict=True):
            sequence, sentence = featurizer._create_features(attribute, [tokens])
            featurizer.add_features_to_message(sequence[0], sentence[0], attribute, message)
        return
    sequences = vectorizer.transform([token for tokens in all_tokens for token in tokens])
    sequences.sort_indices()
    sentences = vectorizer.transform([" ".join(tokens) for tokens in all_tokens])
    sentences.sort_indices()
    start = 0
    for index, (message, tokens) in enumerate(zip(messages, all_tokens, strict=True)):
        sequence = sequences[start : start + len(tokens)].tocoo()
        featurizer.add_features_to_message(sequence, sentences[index : index + 1].tocoo(), attribute, message)
        start += len(tokens)


def _apply(diet: DIETClassifier, message: Any, out: dict[str, Any]) -> None:
    """What DIETClassifier.process sets on a message from its outputs (Rasa 3.6, without diagnostic data)."""
    if diet.component_config[INTENT_CLASSIFICATION]:
        label, label_ranking = diet._predict_label(out)
        message.set(INTENT, label, add_to_output=True)
        message.set("intent_ranking", label_ranking, add_to_output=True)
    if diet.component_config[ENTITY_RECOGNITION]:
        message.set(ENTITIES, diet._predict_entities(out, message), add_to_output=True)
