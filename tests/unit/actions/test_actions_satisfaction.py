# ruff: noqa: F811  (the store and access fixtures are imported from test_actions_callback and named as parameters)
"""`action_satisfaction_answer`: the citizen's 👍/👎 stored on the ticket they were asked about, and thanked."""

from __future__ import annotations

import pytest

from actions.satisfaction import ActionSatisfactionAnswer
from actions.tickets_access import TicketsAccess
from bot.town.tickets import TicketDraft, TicketStore
from bot.town.tickets.satisfaction import SatisfactionStore
from tests.unit.actions.test_actions_callback import CHANNEL, SENDER, access, run, store, tracker  # noqa: F401


@pytest.mark.parametrize(
    ("intent", "satisfied", "response"),
    [("affirm", True, "utter_satisfaction_thanks"), ("deny", False, "utter_satisfaction_sorry")],
)
async def test_the_satisfaction_answer_is_stored_on_the_ticket(
    access: TicketsAccess, store: TicketStore, intent: str, satisfied: bool, response: str
) -> None:
    await access.services()  # tables created
    ref = store.create_ticket(TicketDraft("voirie", "un trou", channel=CHANNEL, sender_id=SENDER)).ref
    store.set_status(ref, "traite", actor="agent")

    _, messages = await run(ActionSatisfactionAnswer(access), tracker("1", intent, ticket_ref=ref))

    assert [m["response"] for m in messages] == [response]
    assert SatisfactionStore(store.engine).answer_of(ref) is satisfied


async def test_an_answer_about_a_ticket_nobody_asked_about_is_not_stored(
    access: TicketsAccess, store: TicketStore
) -> None:
    await access.services()
    ref = store.create_ticket(TicketDraft("voirie", "un trou", channel=CHANNEL, sender_id=SENDER)).ref  # still open

    _, messages = await run(ActionSatisfactionAnswer(access), tracker("oui", "affirm", ticket_ref=ref))

    assert [m["response"] for m in messages] == ["utter_satisfaction_thanks"]
    assert SatisfactionStore(store.engine).answer_of(ref) is None
