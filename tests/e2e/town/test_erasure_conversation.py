"""« Supprimer mes données » through the REST channel with the trained model: confirmed, the conversation is gone."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.guichet_stack import Stack

pytestmark = pytest.mark.model


def texts(replies: list[dict]) -> str:
    return " ".join(r.get("text", "") for r in replies)


def test_citizen_erases_their_conversation_after_confirming_and_nothing_comes_back(sqlite_stack: Stack) -> None:
    stack, sender = sqlite_stack, f"e2e-erase-{uuid.uuid4().hex[:6]}"
    stack.say(sender, "bonjour, mon numero est le 05 36 49 00 12")
    assert stack.user_texts(sender)

    ask = stack.say(sender, "je veux supprimer mes données").json()
    assert "supprimer définitivement" in texts(ask)
    assert [b["payload"] for r in ask for b in r.get("buttons", [])] == ["/affirm", "/deny"]

    done = stack.say(sender, "/affirm").json()
    assert "C'est fait" in texts(done)
    assert stack.stored_events(sender) == []  # read after the turn: no event of the old conversation

    again = stack.say(sender, "bonjour").json()
    assert "Guichet" in texts(again)
    assert stack.user_texts(sender) == ["bonjour"]  # a fresh conversation, without the old one


def test_citizen_who_says_no_keeps_their_conversation(sqlite_stack: Stack) -> None:
    stack, sender = sqlite_stack, f"e2e-keep-{uuid.uuid4().hex[:6]}"
    stack.say(sender, "bonjour")
    stack.say(sender, "supprimer mes données")
    kept = stack.say(sender, "non").json()
    assert "je ne supprime rien" in texts(kept)
    assert stack.user_texts(sender) == ["bonjour", "supprimer mes données", "non"]
