"""Improving the assistant: the misunderstood queue, intent corrections and their export as Rasa NLU YAML."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.shared.nlu.training_data.loading import load_data
from sqlalchemy import select

from bot.console.review import (
    INTENTS,
    export_corrections,
    get_review,
    misunderstood_messages,
    record_correction,
    save_review,
)
from bot.console.schema import audit_log, create_console_schema
from bot.db import create_engine_for
from tests.unit.console.console_seed import at, bot, seed_town_conversations, store, user


@pytest.fixture
def engine():
    engine = create_engine_for("sqlite://")
    create_console_schema(engine)
    seed_town_conversations(engine)
    return engine


def queue(engine) -> dict[str, tuple[str, ...]]:
    return {m.text: m.reasons for m in misunderstood_messages(engine)}


def audit(engine) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        return [(r.action, r.target) for r in conn.execute(select(audit_log).order_by(audit_log.c.id))]


def test_the_contract_has_eighteen_intents_including_out_of_scope() -> None:
    assert len(INTENTS) == 18 and "out_of_scope" in INTENTS


def test_queue_holds_fallbacks_low_confidence_and_denied_answers(engine) -> None:
    assert queue(engine) == {
        "comment on fait pour un passeport": ("low_confidence",),
        "ou est la piscine": ("negative_feedback",),
        "blablabla zorglub": ("fallback", "low_confidence"),
    }


def test_a_no_that_answers_a_question_is_not_negative_feedback(engine) -> None:
    store(engine, "webchat:q", [
        user("je voudrais signaler un trou", "report_problem", 0.97, at(26, 9)),
        bot("Voulez-vous laisser un contact ?", at(26, 9, 0, 1)),
        user("non", "deny", 0.95, at(26, 9, 1)),
    ])  # fmt: skip
    assert "je voudrais signaler un trou" in queue(engine)  # a bot answer was denied right after it
    store(engine, "webchat:r", [user("non", "deny", 0.95, at(26, 10)), user("non", "deny", 0.95, at(26, 10, 1))])
    assert "non" not in queue(engine)


def test_queue_masks_personal_data(engine) -> None:
    store(engine, "sms:x", [user("rappelez moi au 06 12 34 56 78", "nlu_fallback", 0.2, at(26, 9))])
    assert "rappelez moi au [téléphone masqué]" in queue(engine)


def test_corrected_messages_leave_the_queue_and_are_audited(engine) -> None:
    target = next(m for m in misunderstood_messages(engine) if m.text == "blablabla zorglub")
    record_correction(engine, target.event_id, "out_of_scope", actor="agent@pau.example")
    assert "blablabla zorglub" not in queue(engine)
    assert ("correction", "webchat:9d2e44") in audit(engine)


@pytest.mark.parametrize(("intent", "error"), [("make_coffee", ValueError), ("nlu_fallback", ValueError)])
def test_only_contract_intents_can_be_assigned(engine, intent: str, error: type[Exception]) -> None:
    target = misunderstood_messages(engine)[0]
    with pytest.raises(error):
        record_correction(engine, target.event_id, intent, actor="agent@pau.example")


def test_a_correction_needs_a_citizen_message(engine) -> None:
    with pytest.raises(LookupError):
        record_correction(engine, 999_999, "greet", actor="agent@pau.example")


def test_correcting_twice_keeps_the_last_choice(engine) -> None:
    target = next(m for m in misunderstood_messages(engine) if m.text == "comment on fait pour un passeport")
    record_correction(engine, target.event_id, "ask_opening_hours", actor="agent@pau.example")
    record_correction(engine, target.event_id, "ask_procedure", actor="agent@pau.example")
    assert export_corrections(engine, Path("/dev/null")) == 1


def test_export_is_valid_rasa_nlu_yaml_grouped_by_intent_and_masked(engine, tmp_path: Path) -> None:
    store(engine, "sms:y", [user("mon tel c 06 12 34 56 78 rappelez", "nlu_fallback", 0.1, at(26, 9))])
    store(engine, "webchat:z", [user("[lien](promo) gratuit", "nlu_fallback", 0.1, at(26, 9, 5))])
    texts = {m.text: m.event_id for m in misunderstood_messages(engine)}
    record_correction(engine, texts["mon tel c [téléphone masqué] rappelez"], "request_human", actor="a@pau.fr")
    record_correction(engine, texts["comment on fait pour un passeport"], "ask_procedure", actor="a@pau.fr")
    record_correction(engine, texts["ou est la piscine"], "ask_service_location", actor="a@pau.fr")
    record_correction(engine, texts["blablabla zorglub"], "out_of_scope", actor="a@pau.fr")
    record_correction(engine, texts["[lien](promo) gratuit"], "out_of_scope", actor="a@pau.fr")

    out = tmp_path / "data" / "nlu" / "corrections.yml"
    assert export_corrections(engine, out) == 5
    content = out.read_text(encoding="utf-8")
    assert content.startswith('version: "3.1"') and "06 12" not in content

    training = load_data(str(out))
    by_intent: dict[str, set[str]] = {}
    for example in training.intent_examples:
        by_intent.setdefault(example.get("intent"), set()).add(example.get("text"))
    assert by_intent == {
        "ask_procedure": {"comment on fait pour un passeport"},
        "ask_service_location": {"ou est la piscine"},
        "out_of_scope": {"blablabla zorglub", "[lien] (promo) gratuit"},
        "request_human": {"mon tel c [téléphone masqué] rappelez"},
    }
    assert training.entity_examples == []


def test_export_without_corrections_is_still_loadable(engine, tmp_path: Path) -> None:
    out = tmp_path / "corrections.yml"
    assert export_corrections(engine, out) == 0
    assert load_data(str(out)).intent_examples == []


def test_review_notes_and_tags_are_saved_and_each_change_audited(engine) -> None:
    save_review(
        engine,
        "sms:9a8b7c6d5e4f3a2b1c0d",
        reviewed=True,
        tags=["rappel"],
        notes="Rappelé le 23/11",
        actor="agent@pau.example",
        now=at(23, 9),
    )
    review = get_review(engine, "sms:9a8b7c6d5e4f3a2b1c0d")
    assert (review.reviewed, review.tags, review.notes, review.updated_by) == (
        True,
        ("rappel",),
        "Rappelé le 23/11",
        "agent@pau.example",
    )
    assert [a for a, _ in audit(engine)] == ["review", "tag", "note"]
    save_review(
        engine,
        "sms:9a8b7c6d5e4f3a2b1c0d",
        reviewed=True,
        tags=["rappel"],
        notes="Rappelé le 23/11",
        actor="agent@pau.example",
    )
    assert len(audit(engine)) == 3  # nothing changed, nothing audited


def test_export_works_before_the_console_ever_started(tmp_path: Path) -> None:
    fresh = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    assert export_corrections(fresh, tmp_path / "corrections.yml") == 0
