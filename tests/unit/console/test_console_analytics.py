"""Analytics on seeded conversations and tickets: figures, charts as accessible SVG, CSV export."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone

import pytest

from bot.console.analytics import analytics_csv, compute_analytics
from bot.console.charts import bar_chart, horizontal_bar_chart, line_chart
from bot.console.schema import create_console_schema
from bot.db import create_engine_for
from bot.town.tickets.schema import create_schema as create_ticket_schema
from bot.town.tickets.schema import ticket_history, tickets
from tests.unit.console.console_seed import PARIS, seed_town_conversations

START, END = date(2026, 11, 19), date(2026, 11, 26)
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def engine():
    engine = create_engine_for("sqlite://")
    create_console_schema(engine)
    seed_town_conversations(engine)
    return engine


def add_ticket(engine, ref: str, code: str, requested: datetime, done_after: timedelta | None) -> None:
    with engine.begin() as conn:
        ticket_id = conn.execute(tickets.insert().values(
            service_request_id=ref, service_code=code, status="open", description="", requested_datetime=requested,
            updated_datetime=requested, state="nouveau", channel="telegram",
        )).inserted_primary_key[0]  # fmt: skip
        conn.execute(
            ticket_history.insert().values(
                ticket_id=ticket_id, state="nouveau", status="open", actor="citizen", changed_at=requested
            )
        )
        if done_after is not None:
            conn.execute(
                ticket_history.insert().values(
                    ticket_id=ticket_id,
                    state="traite",
                    status="closed",
                    actor="agent@pau.example",
                    changed_at=requested + done_after,
                )
            )


def test_conversation_figures_on_seeded_data(engine) -> None:
    a = compute_analytics(engine, START, END, tz=PARIS)
    assert (a.conversations, a.messages, a.fallbacks, a.handoffs) == (5, 8, 1, 1)
    assert a.fallback_rate == pytest.approx(1 / 8)
    assert a.resolved_without_person_rate == pytest.approx(4 / 5)
    assert dict(a.top_intents)["nlu_fallback"] == 1 and len(a.top_intents) == 8
    assert a.confidence_histogram == [0, 0, 0, 1, 1, 0, 0, 1, 1, 4]


def test_figures_per_local_day_and_channel(engine) -> None:
    a = compute_analytics(engine, START, END, tz=PARIS)
    day = {d: i for i, d in enumerate(a.days)}
    assert a.conversations_per_day["web"][day[date(2026, 11, 20)]] == 1
    assert a.messages_per_day["web"][day[date(2026, 11, 20)]] == 2
    assert a.messages_per_day["web"][day[date(2026, 11, 23)]] == 3
    assert a.conversations_per_day["telegram"][day[date(2026, 11, 21)]] == 1
    assert a.conversations_per_day["sms"][day[date(2026, 11, 22)]] == 1
    assert a.conversations_per_day["rest"][day[date(2026, 11, 25)]] == 1
    assert sum(map(sum, a.conversations_per_day.values())) == 5


def test_period_outside_the_data_is_empty_not_an_error(engine) -> None:
    a = compute_analytics(engine, date(2025, 1, 1), date(2025, 1, 7), tz=PARIS)
    assert (a.conversations, a.messages, a.fallback_rate, a.resolved_without_person_rate) == (0, 0, None, None)


def test_without_ticket_tables_ticket_figures_are_skipped(engine) -> None:
    a = compute_analytics(engine, START, END, tz=PARIS)
    assert not a.tickets_available and a.tickets_per_category == [] and a.median_hours_to_done is None


def test_fresh_install_has_empty_analytics() -> None:
    empty = create_engine_for("sqlite://")
    a = compute_analytics(empty, START, END, tz=PARIS)
    assert a.conversations == 0 and len(a.days) == 8


def test_tickets_per_category_and_median_time_to_done(engine) -> None:
    create_ticket_schema(engine)
    t = datetime(2026, 11, 21, 9, tzinfo=timezone.utc)
    add_ticket(engine, "PAU-2026-000001", "eclairage_public", t, timedelta(hours=10))
    add_ticket(engine, "PAU-2026-000002", "eclairage_public", t, timedelta(hours=30))
    add_ticket(engine, "PAU-2026-000003", "voirie", t, timedelta(hours=50))
    add_ticket(engine, "PAU-2026-000004", "voirie", t, None)
    add_ticket(engine, "PAU-2026-000005", "graffiti", t, None)
    add_ticket(engine, "PAU-2025-000009", "graffiti", t - timedelta(days=365), timedelta(hours=1))  # out of period
    a = compute_analytics(engine, START, END, tz=PARIS)
    assert a.tickets_available
    assert a.tickets_per_category == [("eclairage_public", 2), ("voirie", 2), ("graffiti", 1)]
    assert a.median_hours_to_done == pytest.approx(30)


def test_csv_export_holds_every_figure(engine) -> None:
    rows = list(csv.reader(io.StringIO(analytics_csv(compute_analytics(engine, START, END, tz=PARIS)))))
    assert rows[0] == ["section", "libelle", "canal", "valeur"]
    assert ["messages_par_jour", "2026-11-23", "web", "3"] in rows
    assert ["intentions", "request_human", "", "1"] in rows
    assert ["taux_repli", "", "", "0.1250"] in rows
    assert ["taux_sans_agent", "", "", "0.8000"] in rows


def test_bar_chart_is_an_accessible_svg_image() -> None:
    svg = ET.fromstring(str(bar_chart("c1", "Intentions <top>", ["greet", "deny"], [3, 1], description="Deux.")))
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "c1-title c1-desc"
    assert svg.find(f"{SVG}title").text == "Intentions <top>"
    assert len(svg.findall(f"{SVG}rect")) == 2


def test_line_chart_draws_one_line_per_series_with_a_legend() -> None:
    svg = ET.fromstring(
        str(line_chart("c2", "Par jour", ["01/11", "02/11", "03/11"], {"Web": [1, 4, 2], "SMS": [0, 0, 0]}))
    )
    assert len(svg.findall(f"{SVG}polyline")) == 2
    assert [t.text for t in svg.findall(f"{SVG}text") if t.text in ("Web", "SMS")] == ["Web", "SMS"]


def test_horizontal_bars_keep_long_category_names_readable() -> None:
    svg = ET.fromstring(str(horizontal_bar_chart("c5", "Intentions", ["ask_service_location", "deny"], [4, 1])))
    assert [t.text for t in svg.findall(f"{SVG}text")][:1] == ["ask_service_location"]
    widths = [float(r.get("width")) for r in svg.findall(f"{SVG}rect")]
    assert widths[0] > widths[1] > 0


def test_empty_charts_still_render() -> None:
    assert ET.fromstring(str(bar_chart("c3", "Vide", [], [])))
    assert ET.fromstring(str(line_chart("c4", "Vide", [], {})))
    assert ET.fromstring(str(horizontal_bar_chart("c6", "Vide", [], [])))
