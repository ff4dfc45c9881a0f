"""The NLU understands citizens on a held-out split it was never trained on."""

from __future__ import annotations

import pytest
from rasa.core.agent import Agent

from bench.nlu_eval import evaluate, load_examples
from bot.runtime.components.nonsense_guard import fold
from bot.runtime.train import training_files
from bot.settings import ROOT

pytestmark = pytest.mark.model


def same_text(text: str) -> str:
    """A text whatever its case, accents, spacing and closing punctuation (« À bientôt ! » reads « a bientot »)."""
    return " ".join(fold(text).strip(" ?!.").split())


def test_held_out_split_is_never_trained_on() -> None:
    from rasa.shared.nlu.training_data.loading import load_data

    trained = {p.resolve().relative_to(ROOT.resolve()) for p in training_files()}  # not the checkout's own folders
    assert all("tests" not in p.parts for p in trained)
    train_texts = set()
    for path in trained:
        if path.parts[:2] == ("data", "nlu"):
            train_texts |= {same_text(m.get("text")) for m in load_data(str(ROOT / path)).intent_examples}
    assert len(train_texts) > 1000
    overlap = [e.text for e in load_examples() if same_text(e.text) in train_texts]
    assert overlap == []


# Issue 2's targets: intent accuracy >= 0.92 and macro-F1 >= 0.90. Measured with the committed data and config:
# accuracy 0.927, macro-F1 0.936 (`make eval`, bench/reports/nlu_eval.md; training is deterministic here). Data and
# pipeline choices are made on a development split of the training data (`python -m bench.nlu_dev`), never from
# this file.
ACCURACY_FLOOR = 0.92
MACRO_F1_TARGET = 0.90
# Issue 21's target for entities: the value the actions receive (catalog ids for services, procedures and problem
# categories) is right for at least 92 % of the annotated entities of the held-out split.
ENTITY_ACCURACY_TARGET = 0.92


async def test_held_out_accuracy_and_macro_f1_stay_above_their_floors(agent: Agent) -> None:
    report = await evaluate(agent.parse_message, load_examples())
    per_intent = {s.intent: round(s.f1, 2) for s in report.per_intent}
    assert report.accuracy >= ACCURACY_FLOOR, (report.accuracy, per_intent, report.errors)
    assert report.macro_f1 >= MACRO_F1_TARGET, (report.macro_f1, per_intent, report.errors)
    assert len(report.per_intent) == 18


@pytest.mark.usefixtures("shipped_catalog")
async def test_held_out_entity_values_stay_above_their_target(agent: Agent) -> None:
    report = await evaluate(agent.parse_message, load_examples())
    per_entity = {s.entity: f"{s.correct}/{s.expected}" for s in report.per_entity}
    assert report.entity_accuracy >= ENTITY_ACCURACY_TARGET, (report.entity_accuracy, per_entity, report.entity_errors)
    assert {"service", "procedure", "problem_type"} <= set(per_entity)
