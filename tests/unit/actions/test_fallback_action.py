"""The two-stage fallback asks to rephrase first, then offers the likely intents and a way out."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.fallback import ActionFallback, consecutive_fallbacks, suggested_buttons

BUTTONS = [
    {"title": "Horaires", "payload": "/ask_opening_hours"},
    {"title": "Démarche", "payload": "/ask_procedure"},
    {"title": "Signaler", "payload": "/report_problem"},
    {"title": "Agent", "payload": "/request_human"},
    {"title": "Autre chose", "payload": "/help"},
]
DOMAIN = {"responses": {"utter_did_you_mean": [{"text": "Vouliez-vous dire :", "buttons": BUTTONS}]}}
RANKING = [
    {"name": "nlu_fallback", "confidence": 0.55},
    {"name": "report_problem", "confidence": 0.3},
    {"name": "greet", "confidence": 0.1},
    {"name": "ask_opening_hours", "confidence": 0.05},
    {"name": "ask_procedure", "confidence": 0.04},
    {"name": "request_human", "confidence": 0.01},
]


def user(intent: str) -> dict[str, Any]:
    return {"event": "user", "text": "x", "parse_data": {"intent": {"name": intent}}}


def tracker(events: list[dict[str, Any]]) -> Tracker:
    latest = {"intent": {"name": "nlu_fallback"}, "intent_ranking": RANKING}
    return Tracker("citizen", {}, latest, events, False, None, {}, "action_listen")


def test_consecutive_fallbacks_count_back_to_the_last_understood_message() -> None:
    events = [user("greet"), {"event": "bot"}, user("nlu_fallback"), {"event": "bot"}, user("nlu_fallback")]
    assert consecutive_fallbacks(events) == 2
    assert consecutive_fallbacks([user("nlu_fallback")]) == 1
    assert consecutive_fallbacks([user("nlu_fallback"), {"event": "session_started"}, user("nlu_fallback")]) == 1
    assert consecutive_fallbacks([user("greet")]) == 0


def test_suggestions_follow_the_ranking_and_end_with_the_way_out() -> None:
    picked = suggested_buttons(RANKING, BUTTONS)
    assert [b["payload"] for b in picked] == ["/report_problem", "/ask_opening_hours", "/ask_procedure", "/help"]


async def test_first_failure_asks_to_rephrase() -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionFallback().run(dispatcher, tracker([user("greet"), user("nlu_fallback")]), DOMAIN)
    assert events == []
    assert [m["response"] for m in dispatcher.messages] == ["utter_ask_rephrase"]


async def test_second_failure_offers_buttons_built_from_the_top_intents() -> None:
    dispatcher = CollectingDispatcher()
    await ActionFallback().run(dispatcher, tracker([user("nlu_fallback"), user("nlu_fallback")]), DOMAIN)
    (message,) = dispatcher.messages
    assert message["text"] == "Vouliez-vous dire :"
    assert [b["title"] for b in message["buttons"]] == ["Signaler", "Horaires", "Démarche", "Autre chose"]


async def test_on_the_phone_the_second_failure_uses_the_voice_variant_instead_of_a_list_of_buttons() -> None:
    dispatcher = CollectingDispatcher()
    said = {"event": "user", "text": "x", "parse_data": {"intent": {"name": "nlu_fallback"}}, "input_channel": "voice"}
    await ActionFallback().run(dispatcher, tracker([user("nlu_fallback"), said]), DOMAIN)
    assert [(m["response"], m["buttons"]) for m in dispatcher.messages] == [("utter_did_you_mean", [])]
