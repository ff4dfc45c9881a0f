"""Improving the assistant: reviews, tags and notes, the misunderstood queue, intent corrections and their export."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Engine

from bot.console.auth import record_audit
from bot.console.conversations import (
    FALLBACK_INTENT,
    _loads,
    events,
    events_table_exists,
    json_field,
    split_tags,
)
from bot.console.schema import conversation_reviews, create_console_schema, intent_corrections
from bot.town.privacy import mask_for_review

# The NLU contract (DESIGN.md §4): the intents a correction may assign.
INTENTS = (
    "greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "help", "out_of_scope",
    "ask_opening_hours", "ask_service_location", "ask_service_contact", "ask_procedure", "ask_waste_collection",
    "report_problem", "ask_ticket_status", "request_human", "inform", "erase_my_data",
)  # fmt: skip
LOW_CONFIDENCE = 0.6
NEGATIVE_FEEDBACK_INTENT = "deny"
QUEUE_SCAN_LIMIT = 300
MAX_TAGS = 10
_TAG = re.compile(r"[^\w-]+")


@dataclass(frozen=True)
class Review:
    """What staff noted about a conversation."""

    reviewed: bool = False
    tags: tuple[str, ...] = ()
    notes: str = ""
    updated_by: str | None = None
    updated_at: float | None = None


def normalize_tags(raw: str) -> list[str]:
    """Tags typed as "Panne, voirie urgente" -> ["panne", "voirie-urgente"], unique, at most ten."""
    tags = [_TAG.sub("-", part.strip().lower()).strip("-")[:40] for part in raw.split(",")]
    return list(dict.fromkeys(t for t in tags if t))[:MAX_TAGS]


def get_review(engine: Engine, sender_id: str) -> Review:
    """The review of a conversation (an empty one if staff never touched it)."""
    with engine.connect() as conn:
        row = conn.execute(select(conversation_reviews).where(conversation_reviews.c.sender_id == sender_id)).first()
    if row is None:
        return Review()
    return Review(bool(row.reviewed), tuple(split_tags(row.tags)), row.notes or "", row.updated_by, row.updated_at)


def save_review(
    engine: Engine, sender_id: str, *, reviewed: bool, tags: list[str], notes: str, actor: str, now: float | None = None
) -> Review:
    """Store the review state, tags and notes of a conversation, auditing what changed."""
    now = time.time() if now is None else now
    notes = notes.strip()[:5000]
    before = get_review(engine, sender_id)
    values = {"reviewed": reviewed, "tags": "," + ",".join(tags) + "," if tags else "", "notes": notes,
              "updated_by": actor, "updated_at": now}  # fmt: skip
    with engine.begin() as conn:
        exists = conn.execute(
            select(conversation_reviews.c.sender_id).where(conversation_reviews.c.sender_id == sender_id)
        ).first()
        if exists:
            conn.execute(
                conversation_reviews.update().where(conversation_reviews.c.sender_id == sender_id).values(**values)
            )
        else:
            conn.execute(conversation_reviews.insert().values(sender_id=sender_id, **values))
        if before.reviewed != reviewed:
            record_audit(conn, actor, "review" if reviewed else "unreview", sender_id, None, now=now)
        if list(before.tags) != tags:
            record_audit(conn, actor, "tag", sender_id, ", ".join(tags) or "(aucune)", now=now)
        if before.notes != notes:
            record_audit(conn, actor, "note", sender_id, f"{len(notes)} caractères", now=now)
    return Review(reviewed, tuple(tags), notes, actor, now)


@dataclass(frozen=True)
class MisunderstoodMessage:
    """A citizen message the assistant probably got wrong, masked for review."""

    event_id: int
    sender_id: str
    timestamp: float
    text: str
    intent: str | None
    confidence: float | None
    reasons: tuple[str, ...]  # "fallback", "low_confidence", "negative_feedback"


def misunderstood_messages(
    engine: Engine, *, threshold: float = LOW_CONFIDENCE, scan_limit: int = QUEUE_SCAN_LIMIT
) -> list[MisunderstoodMessage]:
    """Recent uncorrected citizen messages that fell back, had low confidence or drew a "no" right after the answer."""
    if not events_table_exists(engine):
        return []
    confidence = json_field(engine, ("parse_data", "intent", "confidence"), as_float=True)
    corrected = select(intent_corrections.c.event_id)
    is_user = and_(events.c.type_name == "user", events.c.id.not_in(corrected))
    suspicious = (
        select(events)
        .where(is_user, or_(events.c.intent_name == FALLBACK_INTENT, confidence < threshold))
        .order_by(events.c.id.desc())
        .limit(scan_limit)
    )
    denials = (
        select(events.c.id, events.c.sender_id)
        .where(events.c.type_name == "user", events.c.intent_name == NEGATIVE_FEEDBACK_INTENT)
        .order_by(events.c.id.desc())
        .limit(scan_limit)
    )
    found: dict[int, tuple[Any, set[str]]] = {}
    with engine.connect() as conn:
        for row in conn.execute(suspicious):
            reasons = {"fallback"} if row.intent_name == FALLBACK_INTENT else set()
            conf = _loads(row.data).get("parse_data", {}).get("intent", {}).get("confidence")
            if conf is not None and float(conf) < threshold:
                reasons.add("low_confidence")
            found[row.id] = (row, reasons or {"low_confidence"})
        for denial in conn.execute(denials).all():
            previous = conn.execute(
                select(events)
                .where(events.c.sender_id == denial.sender_id, events.c.id < denial.id)
                .order_by(events.c.id.desc())
                .limit(30)
            ).all()
            target = _answered_message(previous)
            if (
                target is not None
                and not conn.execute(
                    select(intent_corrections.c.id).where(intent_corrections.c.event_id == target.id)
                ).first()
            ):
                found.setdefault(target.id, (target, set()))[1].add("negative_feedback")
    messages = [_misunderstood(row, reasons) for row, reasons in found.values()]
    return sorted(messages, key=lambda m: m.event_id, reverse=True)


def _answered_message(previous: list[Any]) -> Any | None:
    """The citizen message whose answer was just denied: a bot answer came after it, then the denial."""
    saw_bot = False
    for row in previous:  # newest first
        if row.type_name == "bot":
            saw_bot = True
        elif row.type_name == "user":
            return row if saw_bot else None
    return None


def _misunderstood(row: Any, reasons: set[str]) -> MisunderstoodMessage:
    data = _loads(row.data)
    intent = (data.get("parse_data") or {}).get("intent") or {}
    conf = intent.get("confidence")
    return MisunderstoodMessage(
        event_id=row.id, sender_id=row.sender_id, timestamp=float(row.timestamp or 0),
        text=mask_for_review(str(data.get("text") or "")), intent=intent.get("name"),
        confidence=None if conf is None else float(conf), reasons=tuple(sorted(reasons)),
    )  # fmt: skip


def record_correction(engine: Engine, event_id: int, intent: str, *, actor: str, now: float | None = None) -> str:
    """Assign the right intent to a citizen message (its masked text is kept for training); return that text."""
    if intent not in INTENTS:
        raise ValueError(f"unknown intent {intent!r}")
    now = time.time() if now is None else now
    with engine.begin() as conn:
        row = conn.execute(select(events).where(events.c.id == event_id, events.c.type_name == "user")).first()
        if row is None:
            raise LookupError(f"no citizen message with id {event_id}")
        text = " ".join(mask_for_review(str(_loads(row.data).get("text") or "")).split())
        if not text:
            raise ValueError("the message has no text to learn from")
        values = {"sender_id": row.sender_id, "text": text, "original_intent": row.intent_name, "intent": intent,
                  "corrected_by": actor, "corrected_at": now}  # fmt: skip
        if conn.execute(select(intent_corrections.c.id).where(intent_corrections.c.event_id == event_id)).first():
            conn.execute(intent_corrections.update().where(intent_corrections.c.event_id == event_id).values(**values))
        else:
            conn.execute(intent_corrections.insert().values(event_id=event_id, **values))
        record_audit(
            conn, actor, "correction", row.sender_id, f"message {event_id}: {row.intent_name} -> {intent}", now=now
        )
    return text


def corrections_yaml(engine: Engine) -> tuple[str, int]:
    """Every correction as Rasa NLU training data (YAML, grouped by intent), and the number of examples."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(intent_corrections.c.intent, intent_corrections.c.text).order_by(
                intent_corrections.c.intent, intent_corrections.c.id
            )
        ).all()
    by_intent: dict[str, dict[str, None]] = {}
    for intent, text in rows:
        by_intent.setdefault(intent, {})[_example(text)] = None
    lines = ['version: "3.1"', "", "# Corrections made by staff in the console (texts masked).", "nlu:"]
    for intent, examples in by_intent.items():
        lines += [f"- intent: {intent}", "  examples: |"] + [f"    - {text}" for text in examples]
    if not by_intent:
        lines[-1] = "nlu: []"
    return "\n".join(lines) + "\n", sum(len(e) for e in by_intent.values())


def _example(text: str) -> str:
    """One line of training data: no line breaks, and "[..](" cannot be read as an entity annotation."""
    return " ".join(text.split()).replace("](", "] (")


def export_corrections(engine: Engine, out_path: Path | str) -> int:
    """Write the corrections as Rasa NLU YAML to `out_path`; return how many examples were written."""
    create_console_schema(engine)  # before the console ever started, there is simply nothing to export
    content, count = corrections_yaml(engine)
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return count
