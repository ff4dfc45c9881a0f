"""RASA_SPEEDUPS=off runs the same bot on plain Rasa: the same answers, turn for turn, as with the speed-ups on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.guichet_stack import Stack, start_stack

pytestmark = pytest.mark.model

# Fixed town time for both stacks: answers about opening hours must not depend on when each one is asked.
CLOCK = "2026-12-08T10:30:00"

SMOKE_QUESTIONS = [
    "bjr c koi les horaires de la mairie",
    "la piscine est ouverte samedi ?",
    "où se trouve la médiathèque",
    "numéro de la police municipale svp",
    "comment faire une carte d'identité",
    "quand passe la collecte rue Serviez",
    "où en est PAU-2026-000123",
    "je veux parler à quelqu'un",
    "merci au revoir",
    "🙂",
    "qsdfghjklm",
]
CONVERSATION = ["bonjour", "il y a un nid de poule", "avenue de Lons", "non merci"]


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Stack]]:
    started: dict[str, Stack] = {}
    try:
        for switch in ("on", "off"):
            var: Path = tmp_path_factory.mktemp(f"speedups-{switch}")
            started[switch] = start_stack(var, console=False, RASA_SPEEDUPS=switch, CLOCK_OVERRIDE=CLOCK)
        yield started
    finally:
        for stack in started.values():
            stack.stop_all()


def answers(stack: Stack, sender: str, message: str) -> list[dict[str, object]]:
    response = stack.say(sender, message)
    assert response.status_code == 200, response.text
    return [{k: v for k, v in m.items() if k != "recipient_id"} for m in response.json()]


def test_each_stack_says_at_start_whether_its_speed_ups_are_on(stacks: dict[str, Stack]) -> None:
    assert "Speed-ups on" in stacks["on"].log("rasa server")
    assert "speed-ups off" in stacks["off"].log("rasa server")
    assert "Speed-ups on" not in stacks["off"].log("rasa server")


@pytest.mark.parametrize("question", SMOKE_QUESTIONS)
def test_the_same_question_gets_the_same_answer(stacks: dict[str, Stack], question: str) -> None:
    sender = f"smoke-{SMOKE_QUESTIONS.index(question)}"
    on, off = answers(stacks["on"], sender, question), answers(stacks["off"], sender, question)
    assert on, "no answer"
    assert on == off


def test_a_conversation_goes_the_same_way_turn_by_turn(stacks: dict[str, Stack]) -> None:
    for turn, message in enumerate(CONVERSATION):
        on = answers(stacks["on"], "conversation", message)
        off = answers(stacks["off"], "conversation", message)
        assert on == off, f"turn {turn}: {message!r}"
