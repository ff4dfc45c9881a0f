"""Action server answers are checked with a schema compiled once: same verdicts as Rasa's own check."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from bot import speedups
from bot.speedups import action_validation
from bot.speedups.action_validation import action_response_validator

GOOD: dict[str, Any] = {
    "events": [{"event": "slot", "name": "catalog_topic", "value": "hours", "timestamp": None}],
    "responses": [{"response": "utter_service_hours", "text": "La mairie ouvre à 8h30."}],
}


@pytest.fixture
def action() -> Iterator[RemoteAction]:
    with speedups.installed(action_validation):
        yield RemoteAction("action_service_hours", EndpointConfig("http://127.0.0.1:5055/webhook"))


@pytest.mark.parametrize(
    "answer",
    [GOOD, {"events": [], "responses": []}, {"events": [{"event": "action_execution_rejected", "name": "x"}]}],
)
def test_an_answer_rasa_accepts_is_accepted(action: RemoteAction, answer: dict[str, Any]) -> None:
    jsonschema.validate(answer, RemoteAction.action_response_format_spec())  # Rasa's own check agrees
    assert action._validate_action_result(answer) is True


@pytest.mark.parametrize("answer", [{"events": "not a list"}, {"events": [{"no_event_key": 1}]}])
def test_a_malformed_answer_is_refused_with_rasas_explanation(action: RemoteAction, answer: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result(answer)


def test_the_schema_is_compiled_once() -> None:
    assert action_response_validator() is action_response_validator()


def sdk_events() -> list[dict[str, Any]]:
    """One event of every kind an action server can send, as rasa-sdk builds them."""
    from rasa_sdk import events as sdk

    return [
        sdk.SlotSet("catalog_topic", "hours"),
        sdk.SlotSet("service", None),
        sdk.AllSlotsReset(),
        sdk.ReminderScheduled("EXTERNAL_rappel", datetime(2026, 12, 6, 10), entities={"service": "mairie"}),
        sdk.ReminderCancelled("rappel"),
        sdk.ConversationPaused(),
        sdk.ConversationResumed(),
        sdk.Restarted(),
        sdk.UserUtteranceReverted(),
        sdk.ActionReverted(),
        sdk.StoryExported(),
        sdk.FollowupAction("action_listen"),
        sdk.BotUttered("Bonjour !", {"buttons": []}),
        sdk.UserUttered("bonjour", {"intent": {"name": "greet", "confidence": 1.0}, "entities": []}),
        sdk.ActionExecuted("utter_greet"),
        sdk.ActiveLoop("report_form"),
        sdk.ActiveLoop(None),
        sdk.LoopInterrupted(True),
        sdk.ActionExecutionRejected("report_form"),
        sdk.SessionStarted(),
    ]


def test_every_event_kind_takes_the_shortcut_with_the_schemas_verdict() -> None:
    from bot.speedups.action_validation import accepted_by_event_name

    full = action_response_validator()
    for event in sdk_events():
        answer = {"events": [event], "responses": [{"text": "Bonjour"}]}
        assert full.is_valid(answer), event
        assert accepted_by_event_name(answer), event  # the shortcut is taken, not only the whole schema


@pytest.mark.parametrize(
    "answer",
    [
        {"events": [{"event": "slot"}]},  # no slot name
        {"events": [{"event": "slot", "name": 3, "value": 1}]},
        {"events": [{"event": "no_such_event"}]},
        {"events": [{"event": "user", "text": 5}]},
        {"events": [{"event": 3}]},
        {"events": [{"event": "slot", "name": "a", "value": 1, "timestamp": "hier"}]},
        {"events": {"event": "slot"}},
        {"responses": "Bonjour"},
        ["not", "an", "object"],
    ],
)
def test_the_shortcut_never_accepts_what_the_schema_refuses(action: RemoteAction, answer: Any) -> None:
    from bot.speedups.action_validation import accepted_by_event_name

    assert not action_response_validator().is_valid(answer)
    assert not accepted_by_event_name(answer)
    with pytest.raises(jsonschema.ValidationError, match="Failed to validate Action server response") as refused:
        action._validate_action_result(answer)
    assert refused.value.message.startswith(next(action_response_validator().iter_errors(answer)).message)
