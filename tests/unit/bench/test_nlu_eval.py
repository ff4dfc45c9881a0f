"""`make eval` scores entity values per entity beside intents, with a stand-in parser (no model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.nlu_eval import Example, evaluate, load_examples, write_report

EXAMPLES = [
    Example(
        "réverbère qui grésille rue Serviez",
        "report_problem",
        (("problem_type", "eclairage_public"), ("address", "rue Serviez")),
    ),
    Example("j'ai égaré mes papiers", "ask_procedure", (("procedure", "perte_vol_papiers"),)),
    Example("horaires piscine", "ask_opening_hours", (("service", "piscine"),)),
    Example("bonjour", "greet"),
    Example("où en est PAU-2026-000123", "ask_ticket_status", (("ticket_ref", "PAU-2026-000123"),)),
]


def parse_with(answers: dict[str, tuple[str, list[tuple[str, str]]]]):
    async def parse(text: str) -> dict[str, Any]:
        intent, entities = answers[text]
        return {
            "intent": {"name": intent, "confidence": 0.9},
            "entities": [{"entity": e, "value": v} for e, v in entities],
        }

    return parse


ANSWERS = {
    # right category, address with other case and accents: both right
    "réverbère qui grésille rue Serviez": (
        "report_problem",
        [("problem_type", "eclairage_public"), ("address", "RUE SERVIEZ")],
    ),
    # the span came back raw: wrong value
    "j'ai égaré mes papiers": ("ask_procedure", [("procedure", "égaré mes papiers")]),
    # right value, plus an invented weekday
    "horaires piscine": ("ask_opening_hours", [("service", "piscine"), ("weekday", "lundi")]),
    "bonjour": ("greet", []),
    # found by DIET and by the regex: one extraction
    "où en est PAU-2026-000123": (
        "ask_ticket_status",
        [("ticket_ref", "PAU-2026-000123"), ("ticket_ref", "pau-2026-000123")],
    ),
}


async def test_entity_values_are_scored_per_entity_with_spurious_extractions_counted() -> None:
    report = await evaluate(parse_with(ANSWERS), EXAMPLES)
    scores = {s.entity: (s.correct, s.expected, s.spurious) for s in report.per_entity}
    assert scores == {
        "address": (1, 1, 0),
        "problem_type": (1, 1, 0),
        "procedure": (0, 1, 1),
        "service": (1, 1, 0),
        "ticket_ref": (1, 1, 0),
        "weekday": (0, 0, 1),
    }
    assert report.entity_accuracy == 4 / 5
    assert report.accuracy == 1.0
    assert [e["text"] for e in report.entity_errors] == ["j'ai égaré mes papiers", "horaires piscine"]


async def test_the_report_shows_entity_accuracy_beside_intent_accuracy(tmp_path: Path) -> None:
    report = await evaluate(parse_with(ANSWERS), EXAMPLES)
    markdown = write_report(report, tmp_path / "missing.tar.gz", tmp_path).read_text(encoding="utf-8")
    assert "- intent accuracy: **1.000**" in markdown
    assert "- entity-value accuracy: **0.800** (4 / 5 annotated values right; 2 spurious extractions)" in markdown
    assert "| procedure | 0 / 1 | 0.00 | 1 |" in markdown
    document = json.loads((tmp_path / "nlu_eval.json").read_text(encoding="utf-8"))
    assert document["entity_accuracy"] == 0.8
    assert {row["entity"]: row["accuracy"] for row in document["per_entity"]}["service"] == 1.0


def test_the_held_out_split_annotates_catalog_entities_with_canonical_values() -> None:
    from bot.town.catalog import load_catalog
    from bot.town.tickets.categories import PROBLEM_TYPES

    catalog = load_catalog()
    known = {"service": set(catalog.services), "procedure": set(catalog.procedures), "problem_type": set(PROBLEM_TYPES)}
    annotated = [(entity, value) for e in load_examples() for entity, value in e.entities if entity in known]
    assert [(entity, value) for entity, value in annotated if value not in known[entity]] == []
    counts = {entity: sum(1 for e, _ in annotated if e == entity) for entity in known}
    assert min(counts.values()) >= 15, counts
    assert ("procedure", "perte_vol_papiers") in annotated
