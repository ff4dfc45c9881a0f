"""Sparse features joined in one step (bot/speedups/sparse_features.py) are those Rasa joins with scipy's hstack."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import scipy.sparse
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message

from bot import speedups
from bot.speedups import sparse_features

FEATURIZERS = ["RegexFeaturizer", "LexicalSyntacticFeaturizer", "CountVectorsFeaturizer", "CountVectorsFeaturizer2"]


@pytest.fixture
def rasa_way() -> Iterator[object]:
    original = speedups.original(Message, "_combine_features")
    with speedups.installed(sparse_features):
        sparse_features.install()  # idempotent
        assert Message._combine_features.__wrapped__ is original  # type: ignore[attr-defined]
        yield original
    assert Message.__dict__["_combine_features"].__func__ is original


def message(rows: int, widths: list[int], dtypes: list[type], seed: int, kind: str = "sequence") -> Message:
    rng = np.random.default_rng(seed)
    built = Message(data={TEXT: "x"})
    for width, dtype, origin in zip(widths, dtypes, FEATURIZERS, strict=False):
        matrix = scipy.sparse.random(rows, width, density=0.3, format="coo", dtype=dtype, random_state=rng)
        built.add_features(Features(matrix, kind, TEXT, origin))
    return built


def assert_same(mine: Features, theirs: Features) -> None:
    assert type(mine.features) is type(theirs.features) is scipy.sparse.coo_matrix
    assert mine.features.shape == theirs.features.shape
    assert mine.features.dtype == theirs.features.dtype
    for part in ("data", "row", "col"):
        np.testing.assert_array_equal(getattr(mine.features, part), getattr(theirs.features, part))
        assert getattr(mine.features, part).dtype == getattr(theirs.features, part).dtype
    assert (mine.type, mine.attribute, mine.origin) == (theirs.type, theirs.attribute, theirs.origin)


@pytest.mark.parametrize(
    ("rows", "widths", "dtypes"),
    [
        (7, [3, 120, 900, 4000], [np.float32] * 4),  # as Guichet's featurizers
        (1, [5, 9], [np.float32, np.float64]),  # a sentence, mixed dtypes
        (12, [1, 1, 1], [np.int64, np.float32, np.float64]),
        (3, [70000, 5], [np.float32, np.float32]),  # wide enough for 64-bit indices? scipy decides, as here
    ],
)
def test_joined_features_are_rasas(rasa_way: object, rows: int, widths: list[int], dtypes: list[type]) -> None:
    for seed in range(3):
        built = message(rows, widths, dtypes, seed)
        mine, _ = built.get_sparse_features(TEXT, FEATURIZERS)
        sequence = [f for f in built.features if f.type == "sequence"]
        theirs = rasa_way(sequence, FEATURIZERS)  # type: ignore[operator]
        assert mine is not None and theirs is not None
        assert_same(mine, theirs)
        assert all(f.features is not mine.features for f in sequence)  # a new matrix, the message's own untouched


def test_anything_else_goes_rasas_way(rasa_way: object) -> None:
    dense = Message(data={TEXT: "x"})
    dense.add_features(Features(np.ones((2, 3)), "sequence", TEXT, "SpacyFeaturizer"))
    dense.add_features(Features(np.zeros((2, 2)), "sequence", TEXT, "Other"))
    joined, _ = dense.get_dense_features(TEXT, [])
    assert joined is not None and joined.features.shape == (2, 5)
    csr = [Features(scipy.sparse.csr_matrix(np.eye(2)), "sequence", TEXT, "a"),
           Features(scipy.sparse.coo_matrix(np.eye(2)), "sequence", TEXT, "b")]  # fmt: skip
    assert sparse_features.combined(csr, ["a", "b"]) is None
    mismatched = [Features(scipy.sparse.coo_matrix(np.eye(2)), "sequence", TEXT, "a"),
                  Features(scipy.sparse.coo_matrix(np.eye(3)), "sequence", TEXT, "b")]  # fmt: skip
    with pytest.raises(ValueError, match="sequence dimensions do not match"):
        Message._combine_features(mismatched, ["a", "b"])
