"""Rasa's training batches built with whole-array operations instead of one small array per example.

Replaces four static methods of `RasaDataGenerator`. DIET and TED get each training batch from
`RasaDataGenerator.prepare_batch`, which turns the features of every example into arrays one example (TED: one
dialogue turn) at a time: `np.vstack` of three small arrays per sparse matrix, one slice assignment per dense
sequence, and for TED a running sum recomputed for every turn. The functions here return the same arrays (same
values, same order, same dtypes, on ragged, empty and "fake" inputs too) from a few concatenations, so the model
trained is the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse

from bot.speedups._patching import original, replace

TARGETS = tuple(
    f"rasa.utils.tensorflow.data_generator.RasaDataGenerator.{name}"
    for name in ("_scipy_matrix_to_values", "_4d_scipy_matrix_to_values", "_pad_dense_data", "_pad_4d_dense_data")
)


def install() -> None:
    """Make Rasa's batch generator use the functions below."""
    from rasa.utils.tensorflow.data_generator import RasaDataGenerator

    for name, replacement in (
        ("_scipy_matrix_to_values", scipy_matrix_to_values),
        ("_4d_scipy_matrix_to_values", scipy_matrix_to_values_4d),
        ("_pad_dense_data", pad_dense_data),
        ("_pad_4d_dense_data", pad_dense_data_4d),
    ):
        replace(RasaDataGenerator, name, lambda rasa_method, ours=replacement: ours, by=__name__)


def rasa_original(name: str) -> Any:
    """Rasa's own implementation of one of the replaced methods (for comparisons)."""
    from rasa.utils.tensorflow.data_generator import RasaDataGenerator

    return original(RasaDataGenerator, name)


def scipy_matrix_to_values(array_of_sparse: Any) -> list[np.ndarray]:
    """Indices (example, position, feature), values and dense shape of a batch of sparse sequence matrices."""
    if array_of_sparse.number_of_dimensions == 4:
        return scipy_matrix_to_values_4d(array_of_sparse)
    return _sparse_values(_as_coo(array_of_sparse), array_of_sparse[0].shape[-1])


def scipy_matrix_to_values_4d(feature_array: Any) -> list[np.ndarray]:
    """As `scipy_matrix_to_values` for dialogues: every real turn of every dialogue is one row of the batch."""
    number_of_features = feature_array[0][0].shape[-1]
    turns = [turn for dialogue in _real_turns(feature_array) for turn in dialogue]
    if not turns:
        return [
            np.empty((0, 3), dtype=np.int64),
            np.array([], dtype=np.float32),
            np.array([0, 0, number_of_features], dtype=np.int64),
        ]
    return _sparse_values(_as_coo(turns), number_of_features)


def pad_dense_data(array_of_dense: Any) -> np.ndarray:
    """A batch of dense sequences, zero-padded at the end to the longest one, as float32."""
    if array_of_dense.number_of_dimensions == 4:
        return pad_dense_data_4d(array_of_dense)
    if array_of_dense[0].ndim < 2:  # not a sequence: Rasa's own (one cast)
        return array_of_dense.astype(np.float32)
    return _padded(list(array_of_dense), array_of_dense[0].shape[-1], array_of_dense[0].dtype)


def pad_dense_data_4d(feature_array: Any) -> np.ndarray:
    """As `pad_dense_data` for dialogues: every real turn of every dialogue is one row of the batch."""
    number_of_features = feature_array[0][0].shape[-1]
    dialogues = _real_turns(feature_array)
    if not dialogues:
        return np.zeros((0, 0, number_of_features), dtype=np.float32)
    return _padded([turn for dialogue in dialogues for turn in dialogue], number_of_features, dialogues[0][0].dtype)


def _real_turns(feature_array: Any) -> list[list[Any]]:
    """The dialogues without their "fake" turns (sequence length 0), and without dialogues left empty."""
    dialogues = ([turn for turn in dialogue if turn.shape[0] > 0] for dialogue in feature_array)
    return [dialogue for dialogue in dialogues if dialogue]


def _as_coo(matrices: Sequence[Any]) -> list[Any]:
    return [m if isinstance(m, scipy.sparse.coo_matrix) else m.tocoo() for m in matrices]


def _sparse_values(matrices: list[Any], number_of_features: int) -> list[np.ndarray]:
    rows = [m.row for m in matrices]
    counts = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    indices = np.empty((int(counts.sum()), 3), dtype=np.int64)
    indices[:, 0] = np.repeat(np.arange(len(matrices), dtype=np.int64), counts)
    indices[:, 1] = np.concatenate(rows)
    indices[:, 2] = np.concatenate([m.col for m in matrices])
    data = np.concatenate([m.data for m in matrices]).astype(np.float32)
    max_seq_len = max(m.shape[0] for m in matrices)
    return [indices, data, np.array((len(matrices), max_seq_len, number_of_features), dtype=np.int64)]


def _padded(sequences: list[np.ndarray], number_of_features: int, dtype: Any) -> np.ndarray:
    lengths = np.fromiter((s.shape[0] for s in sequences), dtype=np.int64, count=len(sequences))
    padded = np.zeros((len(sequences), int(lengths.max()), number_of_features), dtype=dtype)
    padded[np.arange(padded.shape[1]) < lengths[:, None]] = np.concatenate(sequences)
    return padded.astype(np.float32)
