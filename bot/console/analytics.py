"""Figures on how the assistant performs, from the events table (and the tickets tables when they exist)."""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy import DateTime, and_, case, cast, func, inspect, select, text
from sqlalchemy import Integer as SqlInteger
from sqlalchemy.engine import Engine

from bot.console.charts import bar_chart, horizontal_bar_chart, line_chart
from bot.console.conversations import (
    CHANNEL_LABELS,
    CHANNELS,
    FALLBACK_INTENT,
    HANDOFF_INTENT,
    channel_of,
    day_bounds,
    events,
    events_table_exists,
    json_field,
)
from bot.town.tickets.satisfaction import SatisfactionRate, SatisfactionStore

CONFIDENCE_BINS = 10
TRANSFER_CONTROL = "transfer"  # the phone channel's custom message that puts a call through (actions/handoff.py)
TOP_INTENTS = 10


@dataclass
class Analytics:
    """Every figure of the analytics page for one period."""

    start: date
    end: date
    days: list[date] = field(default_factory=list)
    conversations_per_day: dict[str, list[int]] = field(default_factory=dict)  # channel -> one count per day
    messages_per_day: dict[str, list[int]] = field(default_factory=dict)
    top_intents: list[tuple[str, int]] = field(default_factory=list)
    messages: int = 0
    fallbacks: int = 0
    conversations: int = 0
    handoffs: int = 0
    confidence_histogram: list[int] = field(default_factory=lambda: [0] * CONFIDENCE_BINS)
    tickets_available: bool = False
    tickets_per_category: list[tuple[str, int]] = field(default_factory=list)
    median_hours_to_done: float | None = None
    satisfaction_per_category: list[SatisfactionRate] = field(default_factory=list)
    satisfaction_per_channel: list[SatisfactionRate] = field(default_factory=list)
    calls: int = 0  # phone: distinct callers per day, summed over the period
    transferred_calls: int = 0  # phone: of those, put through to the switchboard

    @property
    def fallback_rate(self) -> float | None:
        """Share of citizen messages that fell back, or None without messages."""
        return self.fallbacks / self.messages if self.messages else None

    @property
    def resolved_without_person_rate(self) -> float | None:
        """Share of conversations that never asked for a person, or None without conversations."""
        return (self.conversations - self.handoffs) / self.conversations if self.conversations else None

    @property
    def calls_resolved_without_agent_rate(self) -> float | None:
        """Share of phone calls the assistant answered without a transfer to the switchboard, or None without calls."""
        return (self.calls - self.transferred_calls) / self.calls if self.calls else None

    @property
    def confidence_bins(self) -> list[str]:
        """Labels of the histogram bins ("0,0–0,1" ...)."""
        width = 1 / CONFIDENCE_BINS
        return [f"{i * width:.1f}–{(i + 1) * width:.1f}".replace(".", ",") for i in range(CONFIDENCE_BINS)]


def compute_analytics(engine: Engine, start: date, end: date, *, tz: ZoneInfo) -> Analytics:
    """The figures for the local days from `start` to `end` included."""
    result = Analytics(start, end, [start + timedelta(days=i) for i in range((end - start).days + 1)])
    if events_table_exists(engine):
        with engine.connect() as conn:
            _conversation_figures(conn, engine, result, tz)
    _ticket_figures(engine, result, tz)
    return result


def _conversation_figures(conn: Any, engine: Engine, result: Analytics, tz: ZoneInfo) -> None:
    lower, upper = day_bounds(result.start, result.end, tz)
    is_user = and_(events.c.type_name == "user", events.c.timestamp >= lower, events.c.timestamp < upper)

    # Per sender and hour in SQL (bounded rows), then local days in Python: time zones stay exact across DST.
    hour = _floor(engine, events.c.timestamp / 3600)
    rows = conn.execute(
        select(events.c.sender_id, hour.label("hour"), func.count().label("n")).where(is_user)
        .group_by(events.c.sender_id, hour)
    ).all()  # fmt: skip
    index = {day: i for i, day in enumerate(result.days)}
    messages = {c: [0] * len(result.days) for c in CHANNELS}
    senders: dict[tuple[str, int], set[str]] = defaultdict(set)
    every_sender: set[str] = set()
    for sender_id, hour_number, n in rows:
        day = datetime.fromtimestamp(int(hour_number) * 3600, timezone.utc).astimezone(tz).date()
        if day not in index:
            continue
        channel = channel_of(sender_id)
        messages[channel][index[day]] += int(n)
        senders[(channel, index[day])].add(sender_id)
        every_sender.add(sender_id)
    result.messages_per_day = messages
    result.conversations_per_day = {c: [len(senders[(c, i)]) for i in range(len(result.days))] for c in CHANNELS}
    result.conversations = len(every_sender)
    result.calls = sum(result.conversations_per_day.get("voice", []))
    result.transferred_calls = _transferred_calls(conn, engine, lower, upper, tz)
    result.messages = sum(sum(v) for v in messages.values())

    intents = conn.execute(
        select(events.c.intent_name, func.count()).where(is_user).group_by(events.c.intent_name)
        .order_by(func.count().desc(), events.c.intent_name)
    ).all()  # fmt: skip
    counts = Counter({name or "(aucune)": int(n) for name, n in intents})
    result.fallbacks = counts.get(FALLBACK_INTENT, 0)
    result.top_intents = counts.most_common(TOP_INTENTS)
    result.handoffs = int(conn.execute(
        select(func.count(func.distinct(events.c.sender_id))).where(is_user, events.c.intent_name == HANDOFF_INTENT)
    ).scalar() or 0)  # fmt: skip

    confidence = json_field(engine, ("parse_data", "intent", "confidence"), as_float=True)
    top_bin = CONFIDENCE_BINS - 1
    bin_expr = _floor(engine, confidence * CONFIDENCE_BINS)
    bin_expr = case((bin_expr > top_bin, top_bin), (bin_expr < 0, 0), else_=bin_expr)
    for bin_number, n in conn.execute(
        select(bin_expr.label("bin"), func.count()).where(is_user, confidence.is_not(None)).group_by(bin_expr)
    ):
        if bin_number is not None:
            result.confidence_histogram[int(bin_number)] += int(n)


def _transferred_calls(conn: Any, engine: Engine, lower: float | None, upper: float | None, tz: ZoneInfo) -> int:
    """Phone calls put through to the switchboard: the assistant's transfer message, one per caller and local day."""
    transfer = json_field(engine, ("data", "custom", "voice"))
    bounds = [events.c.timestamp >= lower] if lower is not None else []
    bounds += [events.c.timestamp < upper] if upper is not None else []
    rows = conn.execute(
        select(events.c.sender_id, events.c.timestamp).where(
            events.c.type_name == "bot", events.c.sender_id.like("voice:%"), transfer == TRANSFER_CONTROL, *bounds
        )
    ).all()
    return len({(sender, datetime.fromtimestamp(stamp, timezone.utc).astimezone(tz).date()) for sender, stamp in rows})


def _floor(engine: Engine, expression: Any) -> Any:
    """floor() as an integer (SQLite may lack floor(); its CAST truncates, which is floor for positive values)."""
    if engine.dialect.name == "sqlite":
        return cast(expression, SqlInteger)
    return cast(func.floor(expression), SqlInteger)


def _ticket_figures(engine: Engine, result: Analytics, tz: ZoneInfo) -> None:
    """Tickets per category and median time to « traité », read with plain SQL if the ticket tables exist."""
    tables = set(inspect(engine).get_table_names())
    if "tickets" not in tables:
        return
    # The ticket store keeps naive UTC datetimes on SQLite: compare with the same.
    lower = datetime.combine(result.start, time.min, tz).astimezone(timezone.utc).replace(tzinfo=None)
    upper = datetime.combine(result.end + timedelta(days=1), time.min, tz).astimezone(timezone.utc).replace(tzinfo=None)
    params = {"lower": lower, "upper": upper}
    per_category = text(
        "SELECT service_code, COUNT(*) FROM tickets "
        "WHERE requested_datetime >= :lower AND requested_datetime < :upper "
        "GROUP BY service_code ORDER BY COUNT(*) DESC, service_code"
    )
    time_to_done = text(
        "SELECT t.requested_datetime AS requested, MIN(h.changed_at) AS done FROM tickets t "
        "JOIN ticket_history h ON h.ticket_id = t.id AND h.state = 'traite' "
        "WHERE t.requested_datetime >= :lower AND t.requested_datetime < :upper "
        "GROUP BY t.id, t.requested_datetime"
    ).columns(requested=DateTime, done=DateTime)
    with engine.connect() as conn:
        result.tickets_available = True
        result.tickets_per_category = [(code, int(n)) for code, n in conn.execute(per_category, params)]
        done = conn.execute(time_to_done, params).all() if "ticket_history" in tables else []
    hours = [(d - r).total_seconds() / 3600 for r, d in done if r is not None and d is not None]
    result.median_hours_to_done = statistics.median(hours) if hours else None
    if "ticket_satisfaction" in tables:
        aware = (lower.replace(tzinfo=timezone.utc), upper.replace(tzinfo=timezone.utc))
        result.satisfaction_per_category, result.satisfaction_per_channel = SatisfactionStore(engine).rates(*aware)


def analytics_charts(a: Analytics) -> dict[str, Markup]:
    """The inline SVG charts of the analytics page."""
    days = [d.strftime("%d/%m") for d in a.days]
    active = [c for c in CHANNELS if any(a.conversations_per_day.get(c, []))] or ["web"]
    label = CHANNEL_LABELS.get
    result = {
        "conversations": line_chart(
            "chart-conversations", "Conversations par jour et par canal", days,
            {label(c, c): a.conversations_per_day.get(c, [0] * len(days)) for c in active},
            description=f"{a.conversations} conversations du {a.start:%d/%m/%Y} au {a.end:%d/%m/%Y}."),
        "messages": line_chart(
            "chart-messages", "Messages des citoyens par jour et par canal", days,
            {label(c, c): a.messages_per_day.get(c, [0] * len(days)) for c in active},
            description=f"{a.messages} messages sur la période."),
        "intents": horizontal_bar_chart(
            "chart-intents", "Intentions les plus fréquentes", [i for i, _ in a.top_intents],
            [n for _, n in a.top_intents], description="Nombre de messages par intention reconnue."),
        "confidence": bar_chart(
            "chart-confidence", "Répartition de la confiance", a.confidence_bins, a.confidence_histogram,
            description="Nombre de messages par tranche de confiance de la compréhension."),
    }  # fmt: skip
    if a.tickets_per_category:
        result["tickets"] = horizontal_bar_chart(
            "chart-tickets",
            "Signalements par catégorie",
            [c for c, _ in a.tickets_per_category],
            [n for _, n in a.tickets_per_category],
            description="Nombre de tickets ouverts par catégorie.",
        )
    return result


def analytics_tables(a: Analytics) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """The data behind each chart, as (headers, rows) for the text alternative tables."""
    active = [c for c in CHANNELS if any(a.conversations_per_day.get(c, []))] or ["web"]
    headers = ["Jour"] + [CHANNEL_LABELS[c] for c in active]

    def per_day(values: dict[str, list[int]]) -> list[list[Any]]:
        return [
            [d.strftime("%d/%m/%Y")] + [values.get(c, [0] * len(a.days))[i] for c in active]
            for i, d in enumerate(a.days)
        ]

    return {
        "conversations": (headers, per_day(a.conversations_per_day)),
        "messages": (headers, per_day(a.messages_per_day)),
        "intents": (["Intention", "Messages"], [list(pair) for pair in a.top_intents]),
        "confidence": (
            ["Tranche", "Messages"],
            [list(p) for p in zip(a.confidence_bins, a.confidence_histogram, strict=True)],
        ),
        "tickets": (["Catégorie", "Tickets"], [list(pair) for pair in a.tickets_per_category]),
        "satisfaction_category": (
            ["Catégorie", *SATISFACTION_HEADERS],
            _satisfaction_rows(a.satisfaction_per_category),
        ),
        "satisfaction_channel": (
            ["Canal", *SATISFACTION_HEADERS],
            _satisfaction_rows(a.satisfaction_per_channel, {**CHANNEL_LABELS, "webchat": CHANNEL_LABELS["web"]}),
        ),
    }


SATISFACTION_HEADERS = ["Réponses", "👍 Satisfaits", "Taux de satisfaction"]


def _satisfaction_rows(rates: list[SatisfactionRate], labels: dict[str, str] | None = None) -> list[list[Any]]:
    def shown(rate: float | None) -> str:
        return "—" if rate is None else f"{rate * 100:.0f} %"

    return [[(labels or {}).get(r.key, r.key), r.answered, r.satisfied, shown(r.rate)] for r in rates]


def analytics_csv(analytics: Analytics) -> str:
    """The figures as CSV (one row per figure: section, label, channel, value)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "libelle", "canal", "valeur"])
    for section, per_day in (
        ("conversations_par_jour", analytics.conversations_per_day),
        ("messages_par_jour", analytics.messages_per_day),
    ):
        for channel, values in per_day.items():
            for day, value in zip(analytics.days, values, strict=True):
                writer.writerow([section, day.isoformat(), channel, value])
    for intent, n in analytics.top_intents:
        writer.writerow(["intentions", intent, "", n])
    writer.writerow(["taux_repli", "", "", _ratio(analytics.fallback_rate)])
    writer.writerow(["taux_sans_agent", "", "", _ratio(analytics.resolved_without_person_rate)])
    writer.writerow(["appels", "", "voice", analytics.calls])
    writer.writerow(["appels_transferes", "", "voice", analytics.transferred_calls])
    writer.writerow(["appels_sans_agent", "", "voice", _ratio(analytics.calls_resolved_without_agent_rate)])
    for label, n in zip(analytics.confidence_bins, analytics.confidence_histogram, strict=True):
        writer.writerow(["confiance", label, "", n])
    for code, n in analytics.tickets_per_category:
        writer.writerow(["tickets_par_categorie", code, "", n])
    for section, rates in (
        ("satisfaction_par_categorie", analytics.satisfaction_per_category),
        ("satisfaction_par_canal", analytics.satisfaction_per_channel),
    ):
        for rate in rates:
            writer.writerow([section, rate.key, "", _ratio(rate.rate)])
    if analytics.median_hours_to_done is not None:
        writer.writerow(["delai_median_traite_heures", "", "", f"{analytics.median_hours_to_done:.1f}"])
    return out.getvalue()


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
