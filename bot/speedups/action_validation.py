"""Custom action answers checked against a JSON schema compiled once per process, not once per call.

Replaces `RemoteAction._validate_action_result`. Rasa 3.6 checks every answer of the action server with
`jsonschema.validate(result, schema)`, which first checks the schema against its meta-schema and builds a new
validator each time: more CPU than the rest of a catalog turn. Here the schema is compiled once.

Even compiled, the schema checks every event against each of its 23 event formats (`oneOf`). Each format fixes the
event's `event` name, so an event can only match the one named by its own `event`: the answer is first checked that
way (the schema without `oneOf`, then each event against its own format). What passes is exactly what the whole
schema accepts; anything else goes through the whole schema, which decides and explains as Rasa would.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

from bot.speedups._patching import replace

TARGETS = ("rasa.core.actions.action.RemoteAction._validate_action_result",)


@functools.lru_cache(maxsize=1)
def action_response_validator() -> Any:
    """The validator of Rasa's action server response format, compiled once."""
    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


@functools.lru_cache(maxsize=1)
def event_format_validators() -> tuple[Any, dict[str, Any]]:
    """The response format without its `oneOf` of event formats, and a validator per event name."""
    schema = copy.deepcopy(RemoteAction.action_response_format_spec())
    events = schema["properties"]["events"]["items"]
    formats = events.pop("oneOf")
    validator_class = validator_for(schema)
    per_event = {fmt["properties"]["event"]["const"]: validator_class(fmt) for fmt in formats}
    if len(per_event) != len(formats):  # two formats for one name: the shortcut would not be exact
        raise ValueError("The action response format names an event type twice.")
    return validator_class(schema), per_event


def accepted_by_event_name(result: Any) -> bool:
    """True only if `result` is valid: the response format holds and each event matches its own event format."""
    outline, per_event = event_format_validators()
    if not outline.is_valid(result):
        return False
    for event in result.get("events") or ():
        matching = per_event.get(event["event"])
        if matching is None or not matching.is_valid(event):
            return False
    return True


def validate_action_result(action: RemoteAction, result: dict[str, Any]) -> bool:
    """RemoteAction._validate_action_result with compiled validators: same verdicts, same error message."""
    if accepted_by_event_name(result):
        return True
    try:
        action_response_validator().validate(result)
    except ValidationError as error:
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from the Action "
            f"endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise
    return True


def install() -> None:
    """Make every RemoteAction of this process validate with the compiled schema."""
    replace(RemoteAction, "_validate_action_result", lambda rasa_validate: validate_action_result, by=__name__)
