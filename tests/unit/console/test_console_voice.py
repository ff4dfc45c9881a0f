"""Phone calls in the console: listed under « Téléphone », each citizen turn with its speech-recognition confidence."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from rasa.shared.core.events import BotUttered, UserUttered

from bot.console.analytics import analytics_csv, compute_analytics
from bot.console.conversations import (
    CHANNEL_LABELS,
    ConversationFilter,
    channel_of,
    list_conversations,
    load_transcript,
)
from bot.console.schema import create_console_schema
from bot.db import create_engine_for
from tests.unit.console.console_seed import PARIS, at, bot, store, user
from tests.unit.console.test_console_pages import AGENT, client_for, log_in, start_console

CALLER = "voice:0a1b2c3d4e5f60718293"


def spoken(text: str, intent: str, confidence: float, speech_confidence: float, stamp: float) -> UserUttered:
    """A caller's turn as the phone channel hands it on: the transcript, with Twilio's confidence in the metadata."""
    parse = {"text": text, "intent": {"name": intent, "confidence": confidence}, "entities": []}
    metadata = {"channel": "voice", "speech_confidence": speech_confidence}
    return UserUttered(text, parse["intent"], [], parse_data=parse, timestamp=stamp, input_channel="voice",
                       metadata=metadata)  # fmt: skip


def seed_call(engine) -> None:
    store(engine, CALLER, [
        spoken("quels sont les horaires de la mairie", "ask_opening_hours", 0.97, 0.42, at(27, 10)),
        bot("La mairie est ouverte aujourd'hui de huit heures trente à midi.", at(27, 10, 0, 1)),
    ])  # fmt: skip


def test_a_phone_call_is_a_conversation_of_the_telephone_channel(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'console.db'}")
    create_console_schema(engine)
    seed_call(engine)
    assert channel_of(CALLER) == "voice" and CHANNEL_LABELS["voice"] == "Téléphone"
    listed = list_conversations(engine, ConversationFilter.from_query({"canal": "voice"}), tz=PARIS).items
    assert [c.sender_id for c in listed] == [CALLER]
    assert list_conversations(engine, ConversationFilter.from_query({"canal": "rest"}), tz=PARIS).items == []
    transcript = load_transcript(engine, CALLER)
    assert transcript is not None and transcript.channel == "voice"
    assert [i.speech_confidence for i in transcript.items if i.kind == "user"] == [0.42]


async def test_the_transcript_page_shows_the_channel_and_the_speech_confidence(tmp_path: Path) -> None:
    async for console in start_console(tmp_path):
        seed_call(console.engine)
        async with client_for(console) as client:
            await log_in(client, AGENT)
            page = await client.get(f"/conversations/{CALLER}")
            listing = await client.get("/conversations", params={"canal": "voice"})
        assert page.status_code == 200 and "Canal : Téléphone" in page.text
        assert "Reconnaissance vocale" in page.text and "0,42" in page.text and "(faible)" in page.text
        assert "quels sont les horaires de la mairie" in listing.text and "<td>Téléphone</td>" in listing.text


def seed_calls(engine) -> None:
    """Three calls over two days, one of them put through to the switchboard; and a web chat that is no call."""
    other = "voice:99aa88bb77cc66dd55ee"
    store(engine, CALLER, [spoken("horaires de la mairie", "ask_opening_hours", 0.97, 0.9, at(23, 10)),
                           bot("Ouvert de neuf heures à midi.", at(23, 10, 0, 1)),
                           spoken("je veux parler à quelqu'un", "request_human", 0.95, 0.9, at(24, 11)),
                           BotUttered("Je vous mets en relation.", {"custom": {"voice": "transfer", "topic": "x"}},
                                      timestamp=at(24, 11, 0, 1))])  # fmt: skip
    store(engine, other, [spoken("collecte rue Serviez", "ask_waste_collection", 0.9, 0.8, at(23, 15))])
    store(engine, "webchat:1a2b3c", [user("bonjour", "greet", 0.99, at(23, 9))])


def test_analytics_count_calls_transfers_and_calls_resolved_without_an_agent(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'console.db'}")
    create_console_schema(engine)
    seed_calls(engine)
    figures = compute_analytics(engine, date(2026, 11, 19), date(2026, 11, 26), tz=PARIS)
    assert (figures.calls, figures.transferred_calls) == (3, 1)
    assert figures.calls_resolved_without_agent_rate == pytest.approx(2 / 3)
    rows = analytics_csv(figures).splitlines()
    assert "appels,,voice,3" in rows and "appels_transferes,,voice,1" in rows
    later = compute_analytics(engine, date(2026, 11, 25), date(2026, 11, 26), tz=PARIS)
    assert (later.calls, later.transferred_calls, later.calls_resolved_without_agent_rate) == (0, 0, None)


async def test_the_analytics_page_shows_the_phone_figures(tmp_path: Path) -> None:
    async for console in start_console(tmp_path):
        seed_calls(console.engine)
        async with client_for(console) as client:
            await log_in(client, AGENT)
            page = await client.get("/analytics", params={"du": "2026-11-19", "au": "2026-11-26"})
        assert page.status_code == 200
        assert "<dt>Appels téléphoniques</dt><dd>3</dd>" in page.text
        assert "<dt>Appels transférés au standard</dt><dd>1</dd>" in page.text and "66,7 %" in page.text
