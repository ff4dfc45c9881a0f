"""NLU evaluation on the held-out split (tests/data/nlu_test.yml), which is never trained on.

`make eval` (python -m bench.nlu_eval) writes under bench/reports/: nlu_eval.md (intent accuracy, macro-F1,
per-intent precision/recall/F1, entity-value accuracy per entity, the errors), nlu_eval.json and nlu_confusion.png.

Entities are scored by value, as the actions receive them: an annotated entity is correct when the parse has an
entity of the same type whose value is the annotated one (canonical values for the catalog's entities, folded text
for addresses and dates); every extracted entity that matches no annotation counts as spurious (the same entity and
value extracted twice counts once).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from bot.settings import ROOT, get_settings
from bot.town.catalog.matching import fold

TEST_SPLIT = ROOT / "tests" / "data" / "nlu_test.yml"
REPORTS = ROOT / "bench" / "reports"
FALLBACK = "nlu_fallback"

Parser = Callable[[str], Awaitable[dict[str, Any]]]


@dataclass
class IntentScore:
    """Precision, recall and F1 of one intent."""

    intent: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class EntityScore:
    """How often the value of one entity came out right: correct / expected, and extractions nobody annotated."""

    entity: str
    expected: int
    correct: int
    spurious: int

    @property
    def accuracy(self) -> float:
        """Correct values over annotated ones (1.0 when none was annotated)."""
        return self.correct / self.expected if self.expected else 1.0


@dataclass
class NluReport:
    """What the NLU got right on the held-out split."""

    accuracy: float
    macro_f1: float
    examples: int
    per_intent: list[IntentScore]
    errors: list[dict[str, Any]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)
    seconds: float = 0.0
    entity_accuracy: float = 1.0
    per_entity: list[EntityScore] = field(default_factory=list)
    entity_errors: list[dict[str, Any]] = field(default_factory=list)


class Example(NamedTuple):
    """A held-out message: its text, its intent and its annotated (entity, value) pairs."""

    text: str
    intent: str
    entities: tuple[tuple[str, str], ...] = ()


def load_examples(path: Path = TEST_SPLIT) -> list[Example]:
    """The examples of a Rasa NLU YAML file, with their annotated entity values."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [
        Example(m.get("text"), m.get("intent"), tuple((e["entity"], str(e["value"])) for e in m.get("entities") or []))
        for m in data.intent_examples
    ]


def entity_matches(
    expected: tuple[tuple[str, str], ...], extracted: list[dict[str, Any]]
) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Per entity type: annotations, annotations found with their value, and extractions matching no annotation."""
    wanted = Counter((entity, fold(value)) for entity, value in expected)
    got = Counter({(str(e.get("entity")), fold(str(e.get("value")))): 1 for e in extracted})  # a value found twice
    # (by DIET and by the regex of ticket references) reaches the actions once: it is one extraction
    found = wanted & got
    return (
        Counter(entity for entity, _ in wanted.elements()),
        Counter(entity for entity, _ in found.elements()),
        Counter(entity for entity, _ in (got - found).elements()),
    )


def score_entities(
    examples: list[Example], parses: list[dict[str, Any]]
) -> tuple[float, list[EntityScore], list[dict[str, Any]]]:
    """Entity-value accuracy overall and per entity, and the examples where a value was missed or invented."""
    expected: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    spurious: Counter[str] = Counter()
    errors = []
    for example, result in zip(examples, parses, strict=True):
        extracted = result.get("entities") or []
        wanted, found, extra = entity_matches(example.entities, extracted)
        expected += wanted
        correct += found
        spurious += extra
        if found != wanted or extra:
            errors.append(
                {
                    "text": example.text,
                    "expected": [f"{entity}={value}" for entity, value in example.entities],
                    "extracted": [f"{e.get('entity')}={e.get('value')}" for e in extracted],
                }
            )
    entities = sorted(expected.keys() | spurious.keys())
    scores = [EntityScore(e, expected[e], correct[e], spurious[e]) for e in entities]
    total = sum(expected.values())
    return (sum(correct.values()) / total if total else 1.0), scores, errors


async def evaluate(parse: Parser, examples: list[Example]) -> NluReport:
    """Parse every example and score the predicted intents and entity values against the expected ones."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    started = time.perf_counter()
    truth, predicted, confidences, parses = [], [], [], []
    for example in examples:
        result = await parse(example.text)
        parses.append(result)
        truth.append(example.intent)
        predicted.append(result["intent"]["name"])
        confidences.append(float(result["intent"].get("confidence") or 0.0))
    intents = sorted(set(truth))
    labels = intents + ([FALLBACK] if FALLBACK in predicted and FALLBACK not in intents else [])
    labels += sorted(set(predicted) - set(labels))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=intents, zero_division=0)
    entity_accuracy, per_entity, entity_errors = score_entities(examples, parses)
    return NluReport(
        accuracy=float(accuracy_score(truth, predicted)),
        macro_f1=float(f1_score(truth, predicted, labels=intents, average="macro", zero_division=0)),
        examples=len(examples),
        per_intent=[
            IntentScore(i, float(p), float(r), float(f), int(s))
            for i, p, r, f, s in zip(intents, precision, recall, f1, support, strict=True)
        ],
        errors=[
            {"text": text, "expected": t, "predicted": p, "confidence": round(c, 3)}
            for (text, *_), t, p, c in zip(examples, truth, predicted, confidences, strict=True)
            if t != p
        ],
        labels=labels,
        confusion=confusion_matrix(truth, predicted, labels=labels).tolist(),
        seconds=time.perf_counter() - started,
        entity_accuracy=entity_accuracy,
        per_entity=per_entity,
        entity_errors=entity_errors,
    )


def write_report(report: NluReport, model: Path, out: Path = REPORTS) -> Path:
    """Write the Markdown, JSON and confusion-matrix picture; return the Markdown path."""
    out.mkdir(parents=True, exist_ok=True)
    document = asdict(report)
    for score, row in zip(report.per_entity, document["per_entity"], strict=True):
        row["accuracy"] = round(score.accuracy, 4)
    (out / "nlu_eval.json").write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    plot_confusion(report, out / "nlu_confusion.png")
    size_mb = model.stat().st_size / 1e6 if model.exists() else 0.0
    lines = [
        "# NLU evaluation on the held-out split",
        "",
        f"Test split: `tests/data/nlu_test.yml` ({report.examples} examples, never trained on). "
        f"Model: `{model.name}` ({size_mb:.1f} MB). Measured by `make eval`.",
        "",
        f"- intent accuracy: **{report.accuracy:.3f}**",
        f"- macro-F1: **{report.macro_f1:.3f}**",
        f"- entity-value accuracy: **{report.entity_accuracy:.3f}** "
        f"({sum(s.correct for s in report.per_entity)} / {sum(s.expected for s in report.per_entity)} annotated "
        f"values right; {sum(s.spurious for s in report.per_entity)} spurious extractions)",
        "",
        "| intent | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
        *(f"| {s.intent} | {s.precision:.2f} | {s.recall:.2f} | {s.f1:.2f} | {s.support} |" for s in report.per_intent),
        "",
        "| entity | correct / expected | accuracy | spurious |",
        "|---|---|---|---|",
        *(f"| {s.entity} | {s.correct} / {s.expected} | {s.accuracy:.2f} | {s.spurious} |" for s in report.per_entity),
        "",
        "![confusion matrix](nlu_confusion.png)",
        "",
        f"## Errors ({len(report.errors)})",
        "",
        "| text | expected | predicted | confidence |",
        "|---|---|---|---|",
        *(f"| {e['text']} | {e['expected']} | {e['predicted']} | {e['confidence']} |" for e in report.errors),
        "",
        f"## Entity errors ({len(report.entity_errors)})",
        "",
        "| text | expected | extracted |",
        "|---|---|---|",
        *(f"| {e['text']} | {', '.join(e['expected'])} | {', '.join(e['extracted'])} |" for e in report.entity_errors),
        "",
    ]
    path = out / "nlu_eval.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def plot_confusion(report: NluReport, path: Path) -> None:
    """Draw the confusion matrix as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(8, len(report.labels) * 0.55)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(report.confusion, cmap="Blues")
    ax.set_xticks(range(len(report.labels)))
    ax.set_yticks(range(len(report.labels)))
    ax.set_xticklabels(report.labels, rotation=90)
    ax.set_yticklabels(report.labels)
    for i, row in enumerate(report.confusion):
        for j, value in enumerate(row):
            if value:
                ax.text(j, i, str(value), ha="center", va="center", fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("expected")
    ax.set_title(f"Held-out split: accuracy {report.accuracy:.3f}, macro-F1 {report.macro_f1:.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


async def main() -> None:
    """Load the trained model, evaluate it and write the report.

    The catalog's names come from a fresh database seeded from TOWN_DATA_DIR, so the figures are those of the
    shipped catalog, whatever a local database holds.
    """
    import os
    import tempfile

    from rasa.core.agent import Agent

    from bot.runtime.components.catalog_names import process_live_catalog
    from bot.runtime.train import model_path

    model = model_path(get_settings().models_dir)
    with tempfile.TemporaryDirectory() as directory:
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(directory) / 'catalog.db'}"
        get_settings.cache_clear()  # the settings read above are cached without it
        process_live_catalog.cache_clear()
        agent = Agent.load(str(model))
        report = await evaluate(agent.parse_message, load_examples())
    path = write_report(report, model)
    print(
        f"accuracy {report.accuracy:.3f}  macro-F1 {report.macro_f1:.3f}  entity values {report.entity_accuracy:.3f}  "
        f"({report.examples} examples) -> {path}"
    )


if __name__ == "__main__":
    asyncio.run(main())
