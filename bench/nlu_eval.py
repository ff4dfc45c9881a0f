"""NLU evaluation on the held-out split (tests/data/nlu_test.yml), which is never trained on.

`make eval` (python -m bench.nlu_eval) writes under bench/reports/: nlu_eval.md (accuracy, macro-F1,
per-intent precision/recall/F1, the errors), nlu_eval.json and nlu_confusion.png.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot.settings import ROOT, get_settings

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


def load_examples(path: Path = TEST_SPLIT) -> list[tuple[str, str]]:
    """The (text, intent) pairs of a Rasa NLU YAML file."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [(m.get("text"), m.get("intent")) for m in data.intent_examples]


async def evaluate(parse: Parser, examples: list[tuple[str, str]]) -> NluReport:
    """Parse every example and score the predicted intents against the expected ones."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    started = time.perf_counter()
    truth, predicted, confidences = [], [], []
    for text, intent in examples:
        result = await parse(text)
        truth.append(intent)
        predicted.append(result["intent"]["name"])
        confidences.append(float(result["intent"].get("confidence") or 0.0))
    intents = sorted(set(truth))
    labels = intents + ([FALLBACK] if FALLBACK in predicted and FALLBACK not in intents else [])
    labels += sorted(set(predicted) - set(labels))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=intents, zero_division=0)
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
            for (text, _), t, p, c in zip(examples, truth, predicted, confidences, strict=True)
            if t != p
        ],
        labels=labels,
        confusion=confusion_matrix(truth, predicted, labels=labels).tolist(),
        seconds=time.perf_counter() - started,
    )


def write_report(report: NluReport, model: Path, out: Path = REPORTS) -> Path:
    """Write the Markdown, JSON and confusion-matrix picture; return the Markdown path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "nlu_eval.json").write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False), encoding="utf-8")
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
        "",
        "| intent | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
        *(f"| {s.intent} | {s.precision:.2f} | {s.recall:.2f} | {s.f1:.2f} | {s.support} |" for s in report.per_intent),
        "",
        "![confusion matrix](nlu_confusion.png)",
        "",
        f"## Errors ({len(report.errors)})",
        "",
        "| text | expected | predicted | confidence |",
        "|---|---|---|---|",
        *(f"| {e['text']} | {e['expected']} | {e['predicted']} | {e['confidence']} |" for e in report.errors),
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
    """Load the trained model, evaluate it and write the report."""
    from rasa.core.agent import Agent

    from bot.runtime.train import model_path

    model = model_path(get_settings().models_dir)
    agent = Agent.load(str(model))
    report = await evaluate(agent.parse_message, load_examples())
    path = write_report(report, model)
    print(f"accuracy {report.accuracy:.3f}  macro-F1 {report.macro_f1:.3f}  ({report.examples} examples) -> {path}")


if __name__ == "__main__":
    asyncio.run(main())
