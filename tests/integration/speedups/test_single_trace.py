"""DIET trained with one trace of its training step (bot.speedups.single_trace) is the same model.

A small DIET (intents and entities, so the CRF is in the graph) is trained twice in this process on the same toy
data, once as Rasa does and once with the weights and optimizer slots built before `fit`: the training step is
traced once instead of twice, and the trained models have the same weights and give the same rankings and
entities, to the last bit.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.utils.tensorflow.models import RasaModel

from bot import speedups
from bot.speedups import single_trace as one_trace

EXAMPLES = [
    ("la mairie est ouverte quand", "ask_opening_hours", "mairie"),
    ("horaires de la piscine", "ask_opening_hours", "piscine"),
    ("la mediatheque ouvre a quelle heure", "ask_opening_hours", "mediatheque"),
    ("c'est ouvert la mairie aujourd'hui", "ask_opening_hours", "mairie"),
    ("ou se trouve la piscine", "ask_service_location", "piscine"),
    ("adresse de la mairie svp", "ask_service_location", "mairie"),
    ("c ou la mediatheque", "ask_service_location", "mediatheque"),
    ("comment aller a la mairie", "ask_service_location", "mairie"),
    ("bonjour", "greet", None),
    ("bonsoir madame", "greet", None),
    ("salut", "greet", None),
    ("coucou", "greet", None),
]
PROBES = ["la piscine est ouverte", "ou est la mediatheque", "bonjour monsieur", "adresse piscine"]


def message(text: str, intent: str | None = None, service: str | None = None) -> Message:
    data: dict[str, Any] = {"text": text}
    if intent:
        data["intent"] = intent
    if service:
        start = text.index(service)
        data["entities"] = [{"entity": "service", "value": service, "start": start, "end": start + len(service)}]
    return Message(data=data)


def train_and_predict(
    tmp_path: Path, single_trace: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, list[Any], list[np.ndarray]]:
    """Train a small DIET: how often its training step was traced, its predictions on PROBES, its weights."""
    with speedups.installed(one_trace) if single_trace else contextlib.nullcontext():
        assert (RasaModel.fit is tf.keras.Model.fit) is not single_trace  # Rasa's: RasaModel inherits Keras' fit
        return _train_and_predict(tmp_path, single_trace)


def _train_and_predict(tmp_path: Path, single_trace: bool) -> tuple[int, list[Any], list[np.ndarray]]:
    directory = tmp_path / ("single" if single_trace else "rasa")
    directory.mkdir()
    storage = LocalModelStorage(directory)
    context = ExecutionContext(GraphSchema({}), "test")
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    featurizer = CountVectorsFeaturizer.create(
        CountVectorsFeaturizer.get_default_config(), storage, Resource("words"), context
    )
    data = TrainingData([message(*example) for example in EXAMPLES])
    tokenizer.process_training_data(data)
    featurizer.train(data)
    featurizer.process_training_data(data)
    config = {**DIETClassifier.get_default_config(), "epochs": 3, "random_seed": 7, "batch_size": [4, 8]}
    diet = DIETClassifier.create(config, storage, Resource("diet"), context)
    diet.train(data)
    probes = [message(text) for text in PROBES]
    tokenizer.process(probes)
    featurizer.process(probes)
    diet.process(probes)
    predictions = [(p.get("intent_ranking"), p.get("entities")) for p in probes]
    weights = [w.numpy() for w in diet.model.weights]
    return diet.model.train_function.experimental_get_tracing_count(), predictions, weights


def test_one_trace_and_the_same_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rasa_traces, rasa_predictions, rasa_weights = train_and_predict(tmp_path, False, monkeypatch)
    monkeypatch.undo()
    single_traces, single_predictions, single_weights = train_and_predict(tmp_path, True, monkeypatch)
    assert (rasa_traces, single_traces) == (2, 1)
    assert single_predictions == rasa_predictions
    assert len(single_weights) == len(rasa_weights) > 10  # the CRF's transition weights among them
    for single, rasa in zip(single_weights, rasa_weights):
        np.testing.assert_array_equal(single, rasa)
