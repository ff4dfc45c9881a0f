"""Citizens are understood as they really write, and nonsense goes to the fallback."""

from __future__ import annotations

import pytest
from rasa.core.agent import Agent

pytestmark = pytest.mark.model


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("bonjour", "greet"),
        ("bjr", "greet"),
        ("c un bot ?", "bot_challenge"),
        ("merci bcp", "thank"),
        ("aide", "help"),
        ("a+ bonne soiree", "goodbye"),
    ],
)
async def test_everyday_messages_get_their_intent(agent: Agent, text: str, intent: str) -> None:
    result = await agent.parse_message(text)
    assert result["intent"]["name"] == intent


@pytest.mark.parametrize(
    "text",
    [
        "123456",
        "06 07",
        "???!!!",
        "🙂🙂🙂",
        "qsdfghjk azertyuiop wxcvbn",
        "wxcvbn poiuytreza",
        "what time does the town hall open",
        "wo ist das Rathaus bitte",
        "dónde está el ayuntamiento por favor",
    ],
)
async def test_numbers_gibberish_and_other_languages_end_in_the_fallback(agent: Agent, text: str) -> None:
    result = await agent.parse_message(text)
    assert result["intent"]["name"] == "nlu_fallback"


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("ou en est PAU-2026-000123 ?", "ticket_ref", "PAU-2026-000123"),
        ("horaires de la bibliotheque", "service", "mediatheque"),
        ("il y a un nid de poule rue serviez", "problem_type", "voirie"),
    ],
)
async def test_entities_are_mapped_to_their_canonical_values(agent: Agent, text: str, entity: str, value: str) -> None:
    result = await agent.parse_message(text)
    values = {(e["entity"], e["value"]) for e in result["entities"]}
    assert (entity, value) in values, result["entities"]


async def test_greeting_says_who_answers_and_warns_about_sensitive_data(agent: Agent) -> None:
    replies = await agent.handle_text("bonjour", sender_id="test-greeting")
    text = " ".join(r.get("text", "") for r in replies)
    assert "Guichet" in text
    assert "données sensibles" in text
