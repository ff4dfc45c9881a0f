"""The two-stage fallback: first ask to rephrase, then offer the likely intents as buttons, with a way out."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

FALLBACK_INTENT = "nlu_fallback"
SUGGESTIONS_RESPONSE = "utter_did_you_mean"
MAX_SUGGESTIONS = 3
VOICE_CHANNEL = "voice"


def consecutive_fallbacks(events: list[dict[str, Any]]) -> int:
    """How many of the latest citizen messages, in a row, were not understood."""
    count = 0
    for event in reversed(events):
        if event.get("event") == "session_started":
            break
        if event.get("event") != "user":
            continue
        intent = (event.get("parse_data") or {}).get("intent") or {}
        if intent.get("name") != FALLBACK_INTENT:
            break
        count += 1
    return count


def suggested_buttons(
    ranking: list[dict[str, Any]], buttons: list[dict[str, str]], limit: int = MAX_SUGGESTIONS
) -> list[dict[str, str]]:
    """The buttons of the most likely intents, best first, then the response's last button (the way out)."""
    *choices, way_out = buttons
    by_intent = {b["payload"].lstrip("/"): b for b in choices}
    picked = [by_intent[r["name"]] for r in ranking if r.get("name") in by_intent][:limit]
    return [*picked, way_out]


class ActionFallback(Action):
    """Answers a message the NLU did not understand."""

    def name(self) -> str:
        return "action_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if consecutive_fallbacks(tracker.events) < 2:
            dispatcher.utter_message(response="utter_ask_rephrase")
            return []
        if tracker.get_latest_input_channel() == VOICE_CHANNEL:
            # On the phone, a list of choices read aloud is no help: the voice variant says what the assistant
            # does, and marks a second misunderstanding, after which the channel offers the switchboard.
            dispatcher.utter_message(response=SUGGESTIONS_RESPONSE)
            return []
        template = domain["responses"][SUGGESTIONS_RESPONSE][0]
        ranking = tracker.latest_message.get("intent_ranking") or []
        dispatcher.utter_message(text=template["text"], buttons=suggested_buttons(ranking, template.get("buttons", [])))
        return []
