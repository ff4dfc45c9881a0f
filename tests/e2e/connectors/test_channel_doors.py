"""The channels' doors against the running stack and the trained model: nobody speaks as another channel's citizen,
no lookalike of a button payload is read as an intent, and the web chat widget's first words get the greeting.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.connectors.test_bad_input import post_telegram, telegram_update, wait_for, webchat_answers
from tests.e2e.guichet_stack import Stack

pytestmark = pytest.mark.model

# The examples, then the same trick dressed in other spaces and slashes.
LOOKALIKES = [
    "/ /ask_procedure",
    "/\t/ask_procedure",
    " / / ask_procedure",
    '/ /ask_procedure{"procedure": "passeport"}',
    "\u00a0/\u00a0/ask_procedure",
    "\u200b/ask_procedure",
    "\u2215ask_procedure",
    "\uff0f\uff0fask_procedure",
    "///ask_procedure",
]


@pytest.fixture(scope="module")
def stack(sqlite_stack: Stack) -> Stack:
    return sqlite_stack


def stored_user_turns(stack: Stack, stored_id: str) -> list[dict[str, Any]]:
    return [e for e in stack.stored_events(stored_id) if e.get("event") == "user"]


def test_rest_cannot_erase_or_write_into_a_telegram_citizens_conversation(stack: Stack) -> None:
    chat_id = 800_000_000 + uuid.uuid4().int % 1_000_000
    update = telegram_update(chat_id % 10**6, chat_id, "bonjour")
    assert post_telegram(stack, json.dumps(update).encode()).status_code == 200
    assert wait_for(lambda: stack.user_texts(f"telegram:{chat_id}") == ["bonjour"])

    refused = [stack.say(f"telegram:{chat_id}", text).status_code for text in ("supprimer mes données", "oui")]

    assert refused == [403, 403]
    events = stack.stored_events(f"telegram:{chat_id}")
    assert [e.get("text") for e in events if e.get("event") == "user"] == ["bonjour"]
    assert not any(e.get("name") == "data_erased" for e in events)


def test_a_rest_conversation_is_stored_under_rest_and_answered_under_the_name_sent(stack: Stack) -> None:
    sender = f"doors-{uuid.uuid4().hex[:8]}"
    response = stack.say(sender, "bonjour")
    assert response.status_code == 200
    assert {m["recipient_id"] for m in response.json()} == {sender}
    assert [e.get("text") for e in stored_user_turns(stack, f"rest:{sender}")] == ["bonjour"]


def test_rest_through_a_proxy_without_rest_token_is_refused(stack: Stack) -> None:
    sender = f"doors-proxied-{uuid.uuid4().hex[:8]}"
    response = httpx.post(f"{stack.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": "bonjour"},
                          headers={"X-Forwarded-For": "203.0.113.7"}, timeout=30)  # fmt: skip
    assert response.status_code == 403
    assert stored_user_turns(stack, f"rest:{sender}") == []


@pytest.mark.parametrize("text", LOOKALIKES)
def test_a_payload_lookalike_is_not_read_as_that_intent(stack: Stack, text: str) -> None:
    sender = f"doors-lookalike-{uuid.uuid4().hex[:8]}"
    assert stack.say(sender, text).status_code == 200
    (turn,) = stored_user_turns(stack, f"rest:{sender}")
    intent = turn["parse_data"]["intent"]
    assert not turn["text"].lstrip().startswith("/")
    assert (intent.get("name"), intent.get("confidence")) != ("ask_procedure", 1.0)


async def test_the_web_chat_widgets_init_payload_gets_the_greeting(stack: Stack) -> None:
    opened, greeted = await webchat_answers(stack.rasa_url, [{"message": "/get_started"}, {"message": "bonjour"}])
    assert opened and opened == greeted
    assert "Bonjour" in opened[0] and "reçu de texte" not in " ".join(opened)
