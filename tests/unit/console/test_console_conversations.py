"""Conversations read from Rasa's events table: filters in SQL, pagination, masked transcripts, fresh installs."""

from __future__ import annotations

import pytest

from bot.console.conversations import (
    ConversationFilter,
    channel_of,
    list_conversations,
    load_transcript,
)
from bot.console.review import normalize_tags, save_review
from bot.console.schema import create_console_schema
from bot.db import create_engine_for
from tests.unit.console.console_seed import PARIS, at, bot, seed_town_conversations, store, user

WEB, TELEGRAM, SMS, PHONE_CALLER, REST = (
    "webchat:5f0c1d", "telegram:777001", "sms:9a8b7c6d5e4f3a2b1c0d", "webchat:9d2e44", "3b1f-rest-client",
)  # fmt: skip


@pytest.fixture
def engine():
    engine = create_engine_for("sqlite://")
    create_console_schema(engine)
    seed_town_conversations(engine)
    return engine


def senders(engine, **query: str) -> list[str]:
    return [c.sender_id for c in list_conversations(engine, ConversationFilter.from_query(query), tz=PARIS).items]


@pytest.mark.parametrize(
    ("sender_id", "channel"),
    [("telegram:42", "telegram"), ("sms:abc", "sms"), ("webchat:xyz", "web"), ("curl-test", "rest")],
)
def test_channel_comes_from_the_sender_id_prefix(sender_id: str, channel: str) -> None:
    assert channel_of(sender_id) == channel


def test_fresh_install_without_events_table_lists_nothing() -> None:
    engine = create_engine_for("sqlite://")
    create_console_schema(engine)
    page = list_conversations(engine, ConversationFilter(), tz=PARIS)
    assert page.items == [] and page.total == 0
    assert load_transcript(engine, "webchat:nobody") is None


def test_conversations_are_listed_most_recent_first(engine) -> None:
    assert senders(engine) == [REST, PHONE_CALLER, SMS, TELEGRAM, WEB]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"canal": "telegram"}, [TELEGRAM]),
        ({"canal": "web"}, [PHONE_CALLER, WEB]),
        ({"canal": "sms"}, [SMS]),
        ({"canal": "rest"}, [REST]),
        ({"du": "2026-11-22", "au": "2026-11-23"}, [PHONE_CALLER, SMS]),
        ({"du": "2026-11-24"}, [REST]),
        ({"au": "2026-11-20"}, [WEB]),
        ({"intention": "ask_opening_hours"}, [WEB]),
        ({"intention": "nlu_fallback"}, [PHONE_CALLER]),
        ({"confiance_max": "0.5"}, [REST, PHONE_CALLER]),
        ({"confiance_min": "0.9", "confiance_max": "1"}, [PHONE_CALLER, WEB]),
        ({"repli": "oui"}, [PHONE_CALLER]),
        ({"repli": "non"}, [REST, SMS, TELEGRAM, WEB]),
        ({"humain": "oui"}, [SMS]),
        ({"ticket": "oui"}, [TELEGRAM]),
        ({"q": "MEDIATHEQUE"}, [WEB]),
        ({"q": "passeport"}, [REST]),
        ({"q": "100%_"}, []),
        ({"canal": "web", "repli": "oui", "confiance_max": "0.4"}, [PHONE_CALLER]),
    ],
)
def test_staff_filter_conversations(engine, query: dict[str, str], expected: list[str]) -> None:
    assert senders(engine, **query) == expected


def test_review_status_and_tags_filter_the_list(engine) -> None:
    save_review(engine, TELEGRAM, reviewed=True, tags=normalize_tags("Éclairage, urgent"), notes="", actor="a@pau.fr")
    save_review(engine, SMS, reviewed=False, tags=["urgent"], notes="rappeler", actor="a@pau.fr")
    assert senders(engine, revue="oui") == [TELEGRAM]
    assert senders(engine, revue="non") == [REST, PHONE_CALLER, SMS, WEB]
    assert senders(engine, etiquette="urgent") == [SMS, TELEGRAM]
    assert senders(engine, etiquette="éclairage") == [TELEGRAM]
    assert senders(engine, etiquette="urg") == []


@pytest.mark.parametrize(
    ("raw", "tags"),
    [("Panne, voirie urgente", ["panne", "voirie-urgente"]), (" , ,", []), ("a,A,a", ["a"]), ("x%y", ["x-y"])],
)
def test_tags_are_normalised(raw: str, tags: list[str]) -> None:
    assert normalize_tags(raw) == tags


def test_list_is_paginated_by_twenty_five(engine) -> None:
    for i in range(30):
        store(engine, f"webchat:bulk{i:02d}", [user(f"question {i}", "help", 0.8, at(26, 8, i))])
    first = list_conversations(engine, ConversationFilter(), tz=PARIS)
    second = list_conversations(engine, ConversationFilter(page=2), tz=PARIS)
    assert (first.total, first.pages, len(first.items), len(second.items)) == (35, 2, 25, 10)
    assert {c.sender_id for c in first.items}.isdisjoint(c.sender_id for c in second.items)
    beyond = list_conversations(engine, ConversationFilter(page=9), tz=PARIS)
    assert beyond.page == 2


def test_list_shows_a_masked_preview_and_the_facts(engine) -> None:
    sms = next(c for c in list_conversations(engine, ConversationFilter(), tz=PARIS).items if c.sender_id == SMS)
    assert "06 12 34 56 78" not in sms.preview and "[téléphone masqué]" in sms.preview
    assert (sms.channel, sms.messages, sms.handoff, sms.fallback) == ("sms", 1, True, False)


def test_transcript_shows_intents_confidence_entities_actions_and_slots(engine) -> None:
    transcript = load_transcript(engine, WEB)
    assert transcript is not None and transcript.channel == "web"
    kinds = [item.kind for item in transcript.items]
    assert kinds.count("user") == 2 and "bot" in kinds and "slot" in kinds and "action" in kinds
    question = [item for item in transcript.items if item.kind == "user"][1]
    assert (question.intent, question.confidence) == ("ask_opening_hours", 0.91)
    assert question.entities == [("service", "mediatheque")]
    assert all(item.name != "action_listen" for item in transcript.items)


def test_transcript_masks_personal_data_unless_revealed(engine) -> None:
    masked = load_transcript(engine, TELEGRAM)
    revealed = load_transcript(engine, TELEGRAM, reveal=True)
    assert masked and revealed
    masked_text = " ".join(i.text + " " + " ".join(v for _, v in i.entities) for i in masked.items)
    assert "12 rue Serviez" not in masked_text and "[adresse masquée]" in masked_text
    assert any("12 rue Serviez" in item.text for item in revealed.items)


def test_transcript_links_ticket_references(engine) -> None:
    transcript = load_transcript(engine, TELEGRAM)
    assert transcript is not None and transcript.ticket_refs == ["PAU-2026-000123"]


def test_unknown_conversation_has_no_transcript(engine) -> None:
    assert load_transcript(engine, "telegram:000") is None


def test_bot_text_with_personal_data_is_masked_too(engine) -> None:
    store(
        engine,
        "webchat:echo",
        [user("mon mail", "inform", 0.9, at(27, 9)), bot("Nous écrirons à jeanne.dupont@example.org", at(27, 9, 1))],
    )
    transcript = load_transcript(engine, "webchat:echo")
    assert transcript and all("jeanne.dupont" not in item.text for item in transcript.items)
