"""Action server answers are checked with a schema compiled once: same verdicts as Rasa's own check."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from bot.action_validation import action_response_validator, install

GOOD: dict[str, Any] = {
    "events": [{"event": "slot", "name": "catalog_topic", "value": "hours", "timestamp": None}],
    "responses": [{"response": "utter_service_hours", "text": "La mairie ouvre à 8h30."}],
}


@pytest.fixture
def action() -> Iterator[RemoteAction]:
    original = RemoteAction._validate_action_result
    install()
    yield RemoteAction("action_service_hours", EndpointConfig("http://127.0.0.1:5055/webhook"))
    RemoteAction._validate_action_result = original  # type: ignore[method-assign]


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
