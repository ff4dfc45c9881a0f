"""The whole-array batch functions return exactly what Rasa's per-example ones return."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse
from rasa.utils.tensorflow.data_generator import RasaDataGenerator
from rasa.utils.tensorflow.model_data import FeatureArray, ragged_array_to_ndarray

from bot import speedups
from bot.speedups import fast_batches, single_trace

FEATURES = 7


def sparse_sequence(rng: np.random.Generator, length: int, kind: str = "coo") -> Any:
    matrix = scipy.sparse.random(length, FEATURES, density=0.3, format=kind, random_state=rng, dtype=np.float64)
    return matrix


def dense_sequence(rng: np.random.Generator, length: int) -> np.ndarray:
    return rng.normal(size=(length, FEATURES)).astype(np.float64)


def array(values: list[Any], dimensions: int) -> FeatureArray:
    return FeatureArray(ragged_array_to_ndarray(values), number_of_dimensions=dimensions)


def assert_same(ours: Any, rasa: Any) -> None:
    ours, rasa = (list(x) if isinstance(x, list) else [x] for x in (ours, rasa))
    assert len(ours) == len(rasa)
    for mine, theirs in zip(ours, rasa):
        assert mine.dtype == theirs.dtype
        assert mine.shape == theirs.shape
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("kind", ["coo", "csr"])
def test_sparse_sequences_as_rasa_builds_them(seed: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    batch = array([sparse_sequence(rng, int(n), kind) for n in rng.integers(1, 12, size=9)], 3)
    assert_same(
        fast_batches.scipy_matrix_to_values(batch), fast_batches.rasa_original("_scipy_matrix_to_values")(batch)
    )


def test_sparse_sequences_with_an_empty_matrix() -> None:
    rng = np.random.default_rng(3)
    batch = array([sparse_sequence(rng, 4), scipy.sparse.coo_matrix((2, FEATURES)), sparse_sequence(rng, 6)], 3)
    ours = fast_batches.scipy_matrix_to_values(batch)
    assert_same(ours, fast_batches.rasa_original("_scipy_matrix_to_values")(batch))
    assert ours[2].tolist() == [3, 6, FEATURES]


@pytest.mark.parametrize("seed", range(5))
def test_dense_sequences_as_rasa_pads_them(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ragged = array([dense_sequence(rng, int(n)) for n in rng.integers(1, 12, size=9)], 3)
    same_length = array([dense_sequence(rng, 5) for _ in range(4)], 3)
    sentences = array([rng.normal(size=(1, FEATURES)) for _ in range(4)], 3)
    for batch in (ragged, same_length, sentences):
        assert_same(fast_batches.pad_dense_data(batch), fast_batches.rasa_original("_pad_dense_data")(batch))


def dialogues(rng: np.random.Generator, make: Any, fake: Any) -> FeatureArray:
    """Dialogues of 1-5 turns; some turns (and one whole dialogue) are Rasa's "fake" inputs of length 0."""
    result = []
    for d in range(6):
        turns = []
        for _ in range(int(rng.integers(1, 6))):
            turns.append(fake() if d == 2 or rng.random() < 0.3 else make(int(rng.integers(1, 8))))
        result.append(np.array(turns + [None], dtype=object)[:-1])
    return array(result, 4)


@pytest.mark.parametrize("seed", range(5))
def test_dialogue_batches_as_rasa_builds_them(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sparse = dialogues(rng, lambda n: sparse_sequence(rng, n), lambda: scipy.sparse.coo_matrix((0, FEATURES)))
    dense = dialogues(rng, lambda n: dense_sequence(rng, n), lambda: np.zeros((0, FEATURES)))
    assert_same(
        fast_batches.scipy_matrix_to_values(sparse), fast_batches.rasa_original("_4d_scipy_matrix_to_values")(sparse)
    )
    assert_same(fast_batches.pad_dense_data(dense), fast_batches.rasa_original("_pad_4d_dense_data")(dense))


def test_dialogue_batches_with_only_fake_turns() -> None:
    sparse = array([np.array([scipy.sparse.coo_matrix((0, FEATURES))] * 2 + [None], dtype=object)[:-1]], 4)
    dense = array([np.array([np.zeros((0, FEATURES))] * 2 + [None], dtype=object)[:-1]], 4)
    assert_same(
        fast_batches.scipy_matrix_to_values(sparse), fast_batches.rasa_original("_4d_scipy_matrix_to_values")(sparse)
    )
    assert_same(fast_batches.pad_dense_data(dense), fast_batches.rasa_original("_pad_4d_dense_data")(dense))


def test_install_replaces_rasas_methods_once_and_undo_puts_them_back() -> None:
    rasa_pad = RasaDataGenerator.__dict__["_pad_dense_data"]
    with speedups.installed(single_trace, fast_batches):  # independent of each other, in either order
        fast_batches.install()
        assert RasaDataGenerator._scipy_matrix_to_values is fast_batches.scipy_matrix_to_values
        assert RasaDataGenerator._pad_4d_dense_data is fast_batches.pad_dense_data_4d
        assert fast_batches.rasa_original("_pad_dense_data") is rasa_pad.__func__
    assert RasaDataGenerator.__dict__["_pad_dense_data"] is rasa_pad
