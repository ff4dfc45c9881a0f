"""Reading conversations from Rasa's SQL tracker store (`events` table): filtered lists and transcripts."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    cast,
    false,
    func,
    inspect,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from bot.console.schema import conversation_reviews
from bot.town.privacy import mask_for_review

PAGE_SIZE = 25
MAX_TRANSCRIPT_EVENTS = 5000
CHANNELS = ("web", "telegram", "sms", "voice", "rest")
CHANNEL_LABELS = {"web": "Web", "telegram": "Telegram", "sms": "SMS", "voice": "Téléphone", "rest": "API REST"}
FALLBACK_INTENT = "nlu_fallback"
HANDOFF_INTENT = "request_human"
FALLBACK_ACTIONS = ("action_default_fallback", "action_fallback", "action_two_stage_fallback")
TICKET_REF = re.compile(r"\b[A-Z]{2,6}-\d{4}-\d{6}\b")

# Rasa's table, described here only to query it: the console never creates or alters it.
events = Table(
    "events",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("type_name", String(255)),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)


def channel_of(sender_id: str) -> str:
    """The channel a conversation came through, from its sender id prefix."""
    if sender_id.startswith("telegram:"):
        return "telegram"
    if sender_id.startswith("sms:"):
        return "sms"
    if sender_id.startswith("webchat:"):
        return "web"
    if sender_id.startswith("voice:"):
        return "voice"
    return "rest"


def _channel_condition(channel: str) -> ColumnElement:
    prefixes = {"telegram": "telegram:%", "sms": "sms:%", "web": "webchat:%", "voice": "voice:%"}
    if channel in prefixes:
        return events.c.sender_id.like(prefixes[channel])
    return and_(*(~events.c.sender_id.like(p) for p in prefixes.values()))


def json_field(engine: Engine, path: tuple[str, ...], *, as_float: bool = False) -> ColumnElement:
    """An SQL expression reading `path` inside the JSON of `events.data`, on SQLite or PostgreSQL."""
    if engine.dialect.name == "postgresql":
        expression: ColumnElement = cast(events.c.data, postgresql.JSON)[path].astext
        return cast(expression, Float) if as_float else expression
    expression = func.json_extract(events.c.data, "$." + ".".join(path))
    return cast(expression, Float) if as_float else expression


def events_table_exists(engine: Engine) -> bool:
    """Whether Rasa has created its `events` table yet (not on a fresh install)."""
    return inspect(engine).has_table("events")


def day_bounds(start: date | None, end: date | None, tz: ZoneInfo) -> tuple[float | None, float | None]:
    """Epoch seconds of the start of `start` and the end of `end`, both local days in `tz`."""
    lower = datetime.combine(start, time.min, tz).timestamp() if start else None
    upper = datetime.combine(end + timedelta(days=1), time.min, tz).timestamp() if end else None
    return lower, upper


@dataclass(frozen=True)
class ConversationFilter:
    """What staff filter the conversation list by; None means "any"."""

    channel: str | None = None
    start: date | None = None
    end: date | None = None
    intent: str | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    fallback: bool | None = None
    handoff: bool | None = None
    ticket: bool | None = None
    reviewed: bool | None = None
    tag: str | None = None
    text: str | None = None
    page: int = 1

    @classmethod
    def from_query(cls, args: Mapping[str, str]) -> ConversationFilter:
        """Read the filter form's query string; values that do not parse are ignored."""
        channel = args.get("canal") or None
        return cls(
            channel=channel if channel in CHANNELS else None,
            start=_date(args.get("du")),
            end=_date(args.get("au")),
            intent=(args.get("intention") or "").strip() or None,
            min_confidence=_confidence(args.get("confiance_min")),
            max_confidence=_confidence(args.get("confiance_max")),
            fallback=_tristate(args.get("repli")),
            handoff=_tristate(args.get("humain")),
            ticket=_tristate(args.get("ticket")),
            reviewed=_tristate(args.get("revue")),
            tag=(args.get("etiquette") or "").strip().lower() or None,
            text=(args.get("q") or "").strip()[:200] or None,
            page=max(1, _int(args.get("page"), 1)),
        )

    def query_args(self, **changes: Any) -> dict[str, str]:
        """The query string of this filter (with `changes`), for pagination links."""
        f = replace(self, **changes)
        tri = {True: "oui", False: "non", None: ""}
        args = {
            "canal": f.channel or "", "du": f.start.isoformat() if f.start else "",
            "au": f.end.isoformat() if f.end else "", "intention": f.intent or "",
            "confiance_min": "" if f.min_confidence is None else str(f.min_confidence),
            "confiance_max": "" if f.max_confidence is None else str(f.max_confidence),
            "repli": tri[f.fallback], "humain": tri[f.handoff], "ticket": tri[f.ticket], "revue": tri[f.reviewed],
            "etiquette": f.tag or "", "q": f.text or "", "page": str(f.page),
        }  # fmt: skip
        return {k: v for k, v in args.items() if v and not (k == "page" and v == "1")}


@dataclass(frozen=True)
class ConversationSummary:
    """One row of the conversation list."""

    sender_id: str
    channel: str
    started: float
    last: float
    messages: int
    fallback: bool
    handoff: bool
    ticket: bool
    reviewed: bool
    tags: list[str]
    preview: str


@dataclass(frozen=True)
class ConversationPage:
    """A page of the filtered conversation list."""

    items: list[ConversationSummary]
    total: int
    page: int
    pages: int


def list_conversations(
    engine: Engine, flt: ConversationFilter, *, tz: ZoneInfo, per_page: int = PAGE_SIZE
) -> ConversationPage:
    """The conversations matching `flt`, most recent first, one page of them, with masked previews."""
    if not events_table_exists(engine):
        return ConversationPage([], 0, 1, 1)
    summary = _summary_query(engine, flt, tz).subquery("summary")
    reviewed = func.coalesce(conversation_reviews.c.reviewed, false())
    query = select(summary, reviewed.label("reviewed"), conversation_reviews.c.tags).select_from(
        summary.outerjoin(conversation_reviews, conversation_reviews.c.sender_id == summary.c.sender_id)
    )
    if flt.reviewed is not None:
        query = query.where(reviewed.is_(True) if flt.reviewed else reviewed.is_not(True))
    if flt.tag:
        query = query.where(conversation_reviews.c.tags.like(f"%,{_escape_like(flt.tag)},%", escape="\\"))
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(query.subquery())).scalar() or 0)
        pages = max(1, -(-total // per_page))
        page = min(flt.page, pages)
        rows = conn.execute(
            query.order_by(summary.c.last.desc(), summary.c.sender_id).limit(per_page).offset((page - 1) * per_page)
        ).all()
        previews = _previews(conn, [r.sender_id for r in rows])
    items = [
        ConversationSummary(
            sender_id=r.sender_id, channel=channel_of(r.sender_id), started=r.started, last=r.last,
            messages=int(r.messages or 0), fallback=bool(r.fallback), handoff=bool(r.handoff), ticket=bool(r.ticket),
            reviewed=bool(r.reviewed), tags=split_tags(r.tags), preview=previews.get(r.sender_id, ""),
        )
        for r in rows
    ]  # fmt: skip
    return ConversationPage(items, total, page, pages)


def _summary_query(engine: Engine, flt: ConversationFilter, tz: ZoneInfo) -> Any:
    """One row per conversation with its facts, filtered in SQL (WHERE on events, HAVING on the facts)."""
    is_user = events.c.type_name == "user"
    fallback = or_(
        events.c.intent_name == FALLBACK_INTENT,
        and_(events.c.type_name == "action", events.c.action_name.in_(FALLBACK_ACTIONS)),
    )
    ticket = and_(events.c.type_name.in_(("bot", "slot")), events.c.data.op("GLOB" if _sqlite(engine) else "~")(
        "*[A-Z][A-Z]-[0-9][0-9][0-9][0-9]-[0-9][0-9][0-9][0-9][0-9][0-9]*" if _sqlite(engine)
        else "[A-Z]{2,6}-[0-9]{4}-[0-9]{6}"
    ))  # fmt: skip

    def count(condition: ColumnElement) -> ColumnElement:
        return func.sum(case((condition, 1), else_=0))

    query = select(
        events.c.sender_id,
        func.min(events.c.timestamp).label("started"),
        func.max(events.c.timestamp).label("last"),
        count(is_user).label("messages"),
        count(fallback).label("fallback"),
        count(events.c.intent_name == HANDOFF_INTENT).label("handoff"),
        count(ticket).label("ticket"),
    ).group_by(events.c.sender_id)

    lower, upper = day_bounds(flt.start, flt.end, tz)
    if lower is not None:
        query = query.where(events.c.timestamp >= lower)
    if upper is not None:
        query = query.where(events.c.timestamp < upper)
    if flt.channel:
        query = query.where(_channel_condition(flt.channel))

    having: list[ColumnElement] = [count(is_user) > 0]
    if flt.intent:
        having.append(count(and_(is_user, events.c.intent_name == flt.intent)) > 0)
    if flt.min_confidence is not None or flt.max_confidence is not None:
        confidence = json_field(engine, ("parse_data", "intent", "confidence"), as_float=True)
        in_range = [is_user]
        if flt.min_confidence is not None:
            in_range.append(confidence >= flt.min_confidence)
        if flt.max_confidence is not None:
            in_range.append(confidence <= flt.max_confidence)
        having.append(count(and_(*in_range)) > 0)
    for flag, condition in (
        (flt.fallback, fallback),
        (flt.handoff, events.c.intent_name == HANDOFF_INTENT),
        (flt.ticket, ticket),
    ):
        if flag is not None:
            having.append(count(condition) > 0 if flag else count(condition) == 0)
    if flt.text:
        text = func.lower(json_field(engine, ("text",)))
        having.append(count(and_(is_user, text.like(f"%{_escape_like(flt.text.lower())}%", escape="\\"))) > 0)
    return query.having(and_(*having))


def _previews(conn: Any, sender_ids: list[str]) -> dict[str, str]:
    """The first citizen message of each conversation, masked and shortened."""
    if not sender_ids:
        return {}
    first_ids = (
        select(func.min(events.c.id))
        .where(events.c.sender_id.in_(sender_ids), events.c.type_name == "user")
        .group_by(events.c.sender_id)
    )
    rows = conn.execute(select(events.c.sender_id, events.c.data).where(events.c.id.in_(first_ids)))
    previews = {}
    for sender_id, data in rows:
        text = mask_for_review(str(_loads(data).get("text") or ""))
        previews[sender_id] = text if len(text) <= 120 else text[:119] + "…"
    return previews


@dataclass(frozen=True)
class TranscriptItem:
    """One event of a transcript, as staff read it."""

    event_id: int
    kind: str  # user, bot, action, slot, other
    timestamp: float
    text: str = ""
    intent: str | None = None
    confidence: float | None = None
    entities: list[tuple[str, str]] = field(default_factory=list)
    name: str | None = None
    value: str | None = None
    refs: list[str] = field(default_factory=list)
    speech_confidence: float | None = None  # phone calls: how sure speech recognition was of the words


@dataclass(frozen=True)
class Transcript:
    """A whole conversation, masked unless revealed."""

    sender_id: str
    channel: str
    items: list[TranscriptItem]
    revealed: bool

    @property
    def ticket_refs(self) -> list[str]:
        """Every ticket reference mentioned, in order of first mention."""
        return list(dict.fromkeys(ref for item in self.items for ref in item.refs))


def load_transcript(engine: Engine, sender_id: str, *, reveal: bool = False) -> Transcript | None:
    """The conversation of `sender_id` (masked for review unless `reveal`), or None if there is none."""
    if not events_table_exists(engine):
        return None
    query = select(events).where(events.c.sender_id == sender_id).order_by(events.c.id).limit(MAX_TRANSCRIPT_EVENTS)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    if not rows:
        return None
    show = (lambda text: text) if reveal else mask_for_review
    items = [item for row in rows if (item := _item(row, show)) is not None]
    return Transcript(sender_id, channel_of(sender_id), items, reveal)


def _item(row: Any, show: Any) -> TranscriptItem | None:
    data = _loads(row.data)
    kind, stamp = row.type_name, float(row.timestamp or data.get("timestamp") or 0)
    if kind == "user":
        parse = data.get("parse_data") or {}
        intent = parse.get("intent") or {}
        text = str(data.get("text") or "")
        entities = [(str(e.get("entity")), show(str(e.get("value")))) for e in parse.get("entities") or []]
        return TranscriptItem(
            row.id,
            "user",
            stamp,
            show(text),
            intent.get("name"),
            _float(intent.get("confidence")),
            entities,
            refs=TICKET_REF.findall(text),
            speech_confidence=_float((data.get("metadata") or {}).get("speech_confidence")),
        )
    if kind == "bot":
        text = str(data.get("text") or "")
        return TranscriptItem(row.id, "bot", stamp, show(text), refs=TICKET_REF.findall(text))
    if kind == "action":
        name = data.get("name")
        return None if name == "action_listen" else TranscriptItem(row.id, "action", stamp, name=name)
    if kind == "slot":
        raw = data.get("value")
        value = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
        return TranscriptItem(
            row.id, "slot", stamp, name=data.get("name"), value=show(value), refs=TICKET_REF.findall(value)
        )
    return TranscriptItem(row.id, "other", stamp, name=kind)


def split_tags(stored: str | None) -> list[str]:
    """The tags of a stored ",a,b," string."""
    return [t for t in (stored or "").split(",") if t]


def _loads(data: str | None) -> dict[str, Any]:
    try:
        value = json.loads(data or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _confidence(value: str | None) -> float | None:
    try:
        number = float((value or "").replace(",", "."))
    except ValueError:
        return None
    return number if 0.0 <= number <= 1.0 else None


def _tristate(value: str | None) -> bool | None:
    return {"oui": True, "non": False}.get(value or "")


def _int(value: str | None, default: int) -> int:
    try:
        return int(value or default)
    except ValueError:
        return default


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
