"""Rasa's training batches built with whole-array operations instead of one small array per example.

DIET and TED get each training batch from `RasaDataGenerator.prepare_batch`, which turns the features of every
example into arrays one example (TED: one dialogue turn) at a time: `np.vstack` of three small arrays per sparse
matrix, one slice assignment per dense sequence, and for TED a running sum recomputed for every turn. Measured
during a full training (the generator timed in-process): 32 s of Python for 1,313 batches, and for TED more than
half of each epoch's time. The functions here return the same arrays (same values, same order, same dtypes;
tests/unit/speedups/test_fast_batches.py compares them with Rasa's on ragged, empty and "fake" inputs) from a few
concatenations, so the model trained is the same. `install()` replaces Rasa's four static methods in this process;
`bot.runtime.train` calls it (and `install_single_trace()`, below).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse

_RASA: dict[str, Any] = {}  # Rasa's replaced batch methods, by name
_RASA_FIT: list[Any] = []  # RasaModel.fit before install_single_trace()


def install() -> None:
    """Make Rasa's batch generator use the functions below (idempotent)."""
    from rasa.utils.tensorflow.data_generator import RasaDataGenerator

    if _RASA:
        return
    for name, replacement in (
        ("_scipy_matrix_to_values", scipy_matrix_to_values),
        ("_4d_scipy_matrix_to_values", scipy_matrix_to_values_4d),
        ("_pad_dense_data", pad_dense_data),
        ("_pad_4d_dense_data", pad_dense_data_4d),
    ):
        _RASA[name] = RasaDataGenerator.__dict__[name].__func__
        setattr(RasaDataGenerator, name, staticmethod(replacement))


def rasa_original(name: str) -> Any:
    """Rasa's own implementation of one of the replaced methods (for comparisons)."""
    from rasa.utils.tensorflow.data_generator import RasaDataGenerator

    return _RASA.get(name) or RasaDataGenerator.__dict__[name].__func__


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


def install_single_trace() -> None:
    """Make Keras trace a RasaModel's training step once instead of twice (idempotent).

    A `tf.function` whose first call creates variables is traced twice: once creating them, once more for every
    later call. Keras' training step creates the layers' weights and the optimizer's slots on its first call, so
    DIET's and TED's training graphs (forward pass, CRF, gradients) are traced twice: 10-12 s for DIET. Here the
    weights are created before `fit` by one forward pass in eager mode (not training, so no dropout draws), and
    the optimizer's slots by `optimizer.build`; the first trace then creates nothing and is the one used. The
    initial values come from the same seeded initializers in the same order, and the traced graph is the same, so
    the trained model is the same (same losses, same predictions: checked on full trainings).
    """
    from rasa.utils.tensorflow.data_generator import RasaBatchDataGenerator
    from rasa.utils.tensorflow.models import RasaModel

    if _RASA_FIT:
        return
    _RASA_FIT.append(RasaModel.fit)

    def fit(self: Any, x: Any = None, *args: Any, **kwargs: Any) -> Any:
        if isinstance(x, RasaBatchDataGenerator) and not self.run_eagerly and len(x) > 0:
            build_for_training(self, x[0][0])
        return _RASA_FIT[0](self, x, *args, **kwargs)

    RasaModel.fit = fit  # type: ignore[method-assign]


def build_for_training(model: Any, batch_in: Any) -> None:
    """Create the model's weights (one eager forward pass) and its optimizer's slots, before any tracing."""
    if getattr(model, "guichet_built_for_training", False):
        return
    phase = model._training
    model._training = None  # not training: the forward pass draws no dropout
    try:
        model.batch_loss(batch_in)
    finally:
        model._training = phase
    model.optimizer.build(model.trainable_variables)
    model.guichet_built_for_training = True
