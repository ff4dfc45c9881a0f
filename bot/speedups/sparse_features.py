"""A message's sparse features put side by side in one step, instead of one scipy `hstack` per featurizer.

Replaces `Message._combine_features`. Before DIET predicts, Rasa 3.6 joins the sparse features of each featurizer
(regex, lexical and syntactic, the two count vectorizers) into one matrix, for the tokens and again for the
sentence: it deep-copies the first matrix, then calls `scipy.sparse.hstack` (scipy's general block-matrix builder)
once per other featurizer. When every part is a COO matrix, as the featurizers make them, the joined matrix is the
same concatenation of their entries, column indices shifted: it is built here in one go. Same matrix, same entries
in the same order, same dtypes; anything else goes Rasa's way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from scipy.sparse._sputils import get_index_dtype, upcast

from bot.speedups._patching import replace

TARGETS = ("rasa.shared.nlu.training_data.message.Message._combine_features",)


def side_by_side(matrices: list[scipy.sparse.coo_matrix]) -> scipy.sparse.coo_matrix:
    """`scipy.sparse.hstack` of COO matrices with the same number of rows, as scipy builds it."""
    rows = matrices[0].shape[0]
    widths = [m.shape[1] for m in matrices]
    offsets = np.cumsum([0, *widths[:-1]])
    shape = (rows, int(sum(widths)))
    index_dtype = get_index_dtype(maxval=max(shape))
    data = np.concatenate([m.data for m in matrices]).astype(upcast(*[m.dtype for m in matrices]), copy=False)
    row = np.concatenate([m.row.astype(index_dtype, copy=False) for m in matrices])
    col = np.concatenate(
        [(m.col + offset).astype(index_dtype, copy=False) for m, offset in zip(matrices, offsets, strict=True)]
    )
    return scipy.sparse.coo_matrix((data, (row, col)), shape=shape)


def combined(features: list[Features], featurizers: list[str]) -> Features | None:
    """Rasa's `Message._combine_features` for sparse COO parts; None when Rasa's own way must be taken."""
    if len(features) < 2 or not all(
        f.is_sparse() and isinstance(f.features, scipy.sparse.coo_matrix) for f in features
    ):
        return None
    rows = features[0].features.shape[0]
    if any(f.features.shape[0] != rows for f in features):
        return None  # Rasa raises its own error for this
    first = features[0]
    return Features(side_by_side([f.features for f in features]), first.type, first.attribute, featurizers)


def install() -> None:
    """Join sparse features in one step in this process."""
    replace(Message, "_combine_features", in_one_step, by=__name__)


def in_one_step(original: Callable[..., Any]) -> Callable[..., Any]:
    """Rasa's `_combine_features`, sparse COO parts joined by `combined`."""

    @functools.wraps(original)
    def combine_features(features: list[Features], featurizers: list[str]) -> Any:
        joined = combined(features, featurizers)
        return original(features, featurizers) if joined is None else joined

    return combine_features
