# ruff: noqa: F811  (the running fixture is imported from test_console_tickets and named as a parameter)
"""The console's side of issue 22: agents' « disponible / absent » toggle and the waiting badge, call-back tickets
with their audited outcomes, and the satisfaction rate in the analytics."""

from __future__ import annotations

from datetime import date, datetime, timezone

import httpx
from sqlalchemy import select

from bot.console.analytics import analytics_tables, compute_analytics
from bot.console.schema import audit_log
from bot.town.handoff import AgentPresence, callback_draft
from bot.town.tickets import OutboxStore
from bot.town.tickets.satisfaction import SATISFACTION_KIND, SatisfactionStore
from tests.unit.console.test_console_pages import ADMIN, AGENT, audit_actions
from tests.unit.console.test_console_tickets import (  # noqa: F401 (the running fixture)
    NOW,
    Running,
    agent_client,
    citizen_waits,
    post_form,
    running,
    seed_tickets,
)

PRESENCE_SECONDS = 30  # the default HANDOFF_PRESENCE_SECONDS of the fixture's settings


def presence(running: Running) -> AgentPresence:
    return AgentPresence(running.engine, presence_seconds=PRESENCE_SECONDS)


async def test_an_agent_switches_to_disponible_and_back_audited(running: Running) -> None:
    async with agent_client(running) as client:
        page = await client.get("/handoffs")
        assert "Vous êtes absent" in page.text
        on = await post_form(client, "/handoffs", "/handoffs/presence", available="1")
        assert on.status_code == 303
        assert presence(running).available_agents(NOW) == [AGENT]
        assert "Vous êtes disponible" in (await client.get("/handoffs")).text
        await post_form(client, "/handoffs", "/handoffs/presence", available="0")
    assert presence(running).available_agents(NOW) == []
    with running.engine.connect() as conn:
        rows = conn.execute(select(audit_log.c.action, audit_log.c.detail).where(audit_log.c.actor == AGENT)).all()
    assert [tuple(r) for r in rows if r.action == "handoff_presence"] == [
        ("handoff_presence", "disponible"),
        ("handoff_presence", "absent"),
    ]


async def test_strangers_and_forged_forms_cannot_set_presence(running: Running) -> None:
    async with httpx.AsyncClient(base_url=running.url, follow_redirects=False) as stranger:
        anonymous = await stranger.post("/handoffs/presence", data={"available": "1"})
    async with agent_client(running) as client:
        forged = await client.post("/handoffs/presence", data={"available": "1"})
        bad = await post_form(client, "/handoffs", "/handoffs/presence", available="peut-être")
    assert anonymous.status_code == 302 and anonymous.headers["location"].startswith("/login")
    assert forged.status_code == 403 and bad.status_code == 400
    assert presence(running).available_agents(NOW) == []


async def test_the_queue_page_keeps_an_available_agent_present_and_shows_who_waits(running: Running) -> None:
    presence(running).set_available(AGENT, True, NOW - PRESENCE_SECONDS - 5)  # the page stopped polling...
    assert presence(running).available_agents(NOW) == []
    citizen_waits(running)
    async with agent_client(running) as client:
        page = await client.get("/handoffs")  # ...and polls again
    assert presence(running).available_agents(NOW) == [AGENT]
    assert 'id="waiting-badge"' in page.text and "1 en attente" in page.text
    assert 'data-waiting="1"' in page.text and "agents disponibles : 1" in page.text


async def test_a_call_back_ticket_shows_the_question_and_records_rappele_audited(running: Running) -> None:
    draft = callback_draft(
        "telegram", "telegram:555", "callback:t1", phone="+33612345678", question="ma facture de cantine", expected=None
    )
    ref = running.tickets.create_ticket(draft).ref
    async with agent_client(running) as client:
        page = await client.get(f"/tickets/{ref}")
        assert "Demande de rappel : ma facture de cantine" in page.text and "06 •• •• •• 78" in page.text
        assert "+33612345678" not in page.text  # only after the audited reveal
        done = await post_form(client, f"/tickets/{ref}", f"/tickets/{ref}/callback", outcome="rappele")
        after = await client.get(f"/tickets/{ref}")
    assert done.status_code == 303
    ticket = running.tickets.get_ticket(ref)
    assert ticket is not None and ticket.state == "traite"
    last = running.tickets.history(ref)[-1]
    assert (last.state, last.actor, last.note) == ("traite", AGENT, "Un agent vous a rappelé.")
    assert "Un agent vous a rappelé." in after.text  # in the ticket's history
    assert audit_actions(running.engine)[-1] == "callback_outcome"
    kinds = sorted(job.kind for job in OutboxStore(running.engine).jobs())
    assert kinds == [SATISFACTION_KIND, "ticket_update"]  # the citizen is told, then asked once


async def test_injoignable_keeps_the_call_back_open(running: Running) -> None:
    draft = callback_draft("sms", "sms:p-9", "callback:s1", phone="+33612345678", question="x", expected=None)
    ref = running.tickets.create_ticket(draft).ref
    async with agent_client(running) as client:
        await post_form(client, f"/tickets/{ref}", f"/tickets/{ref}/callback", outcome="injoignable")
    ticket = running.tickets.get_ticket(ref)
    assert ticket is not None and (ticket.state, ticket.status) == ("pris_en_charge", "open")
    assert audit_actions(running.engine)[-1] == "callback_outcome"


async def test_outcomes_only_on_call_backs_and_only_for_staff(running: Running) -> None:
    ref = seed_tickets(running.tickets)[0]
    async with httpx.AsyncClient(base_url=running.url, follow_redirects=False) as stranger:
        anonymous = await stranger.post(f"/tickets/{ref}/callback", data={"outcome": "rappele"})
    async with agent_client(running) as client:
        refused = await post_form(client, f"/tickets/{ref}", f"/tickets/{ref}/callback", outcome="rappele")
    assert anonymous.status_code == 302 and refused.status_code == 400
    assert running.tickets.get_ticket(ref).state == "nouveau"  # type: ignore[union-attr]


async def test_the_analytics_page_shows_the_satisfaction_rate(running: Running) -> None:
    refs = seed_tickets(running.tickets)  # voirie by web chat, éclairage by Telegram, propreté by SMS
    answers = SatisfactionStore(running.engine)
    moment = datetime.fromtimestamp(NOW, timezone.utc)
    for ref, (channel, sender), satisfied in zip(
        refs[:2], [("webchat", None), ("telegram", "telegram:777001")], [True, False], strict=True
    ):
        running.tickets.set_status(ref, "traite", actor="agent")
        ticket = running.tickets.get_ticket(ref)
        assert ticket is not None
        assert answers.record(ref, channel, sender or ticket.sender_id or "", satisfied, moment)

    figures = compute_analytics(running.engine, date(2026, 11, 25), date(2026, 11, 25), tz=timezone.utc)
    headers, rows = analytics_tables(figures)["satisfaction_channel"]
    assert headers == ["Canal", "Réponses", "👍 Satisfaits", "Taux de satisfaction"]
    assert sorted(rows) == [["Telegram", 1, 0, "0 %"], ["Web", 1, 1, "100 %"]]
    async with agent_client(running, ADMIN) as client:
        page = await client.get("/analytics?du=2026-11-25&au=2026-11-25")
    assert "Satisfaction par catégorie" in page.text and "Satisfaction par canal" in page.text
    assert "<td>100 %</td>" in page.text and "<td>0 %</td>" in page.text
