"""Ticket pages and the live handoff in the console, over HTTP on 127.0.0.1 (the rasa server is a fake)."""

from __future__ import annotations

import html
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sanic import Sanic
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.console import accounts, auth
from bot.console.pages import register_console
from bot.console.schema import audit_log, create_console_schema
from bot.db import create_engine_for, write_transaction
from bot.settings import Settings
from bot.town.handoff import FakeConversationControl, HandoffStore, create_handoff_schema
from bot.town.media import MediaStore
from bot.town.tickets import OutboxStore, TicketDraft, TicketStore, create_schema
from bot.town.tickets.schema import contact_consents, tickets
from tests.conftest import free_port
from tests.photos import image_bytes
from tests.unit.console.console_seed import action, at, bot, seed_town_conversations, store, user
from tests.unit.console.test_console_pages import ADMIN, AGENT, PASSWORD, audit_actions, csrf_of, log_in, stop

NOW = at(25, 10)  # Wednesday 25 November 2026, 10:00 in Pau
WEB_SENDER = "webchat:9a8b7c6d5e4f3a2b"


@dataclass
class Running:
    url: str
    engine: Engine
    tickets: TicketStore
    handoffs: HandoffStore
    control: FakeConversationControl


@pytest.fixture(autouse=True)
def test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Sanic, "test_mode", True)
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setattr(auth, "_DUMMY_HASH", None)


def seed_tickets(tickets: TicketStore) -> list[str]:
    """Pau reports on a few streets, one with a photo and a position, followed by the citizen who made it."""
    assert tickets.media is not None
    photo = tickets.media.save(image_bytes("JPEG"))
    drafts = [
        TicketDraft("voirie", "nid-de-poule profond", "12 Rue Serviez", lat=43.2961, long=-0.3700,
                    media_url=f"http://127.0.0.1:5005/webhooks/webchat/upload/{photo}?expires=1&signature=0",
                    channel="webchat", sender_id=WEB_SENDER),
        TicketDraft("eclairage_public", "lampadaire éteint", "Boulevard des Pyrénées", channel="telegram",
                    sender_id="telegram:777001"),
        TicketDraft("proprete", "dépôt sauvage", "Avenue de Lons", channel="sms", sender_id="sms:p-1"),
    ]  # fmt: skip
    return [tickets.create_ticket(d).ref for d in drafts]


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    url = f"sqlite:///{tmp_path / 'guichet.db'}"
    engine = create_engine_for(url)
    create_console_schema(engine)
    create_schema(engine)
    create_handoff_schema(engine)
    seed_town_conversations(engine)
    accounts.create_staff_user(engine, AGENT, "agent", PASSWORD)
    accounts.create_staff_user(engine, ADMIN, "admin", PASSWORD)
    clock = lambda: datetime.fromtimestamp(NOW, timezone.utc)  # noqa: E731
    tickets = TicketStore(engine, clock=clock, media=MediaStore(tmp_path / "media"))  # the settings' MEDIA_DIR
    app = Sanic(f"console_tickets_{uuid.uuid4().hex[:8]}", configure_logging=False)
    app.config.KEEP_ALIVE = False
    control = FakeConversationControl()
    app.ctx.handoff_control = control
    register_console(app, Settings(var_dir=tmp_path, database_url=url), engine=engine, clock=lambda: NOW)
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.start_serving()
    await server.after_start()
    try:
        yield Running(f"http://127.0.0.1:{port}", engine, tickets, HandoffStore(engine), control)
    finally:
        await server.before_stop()
        await stop(server)
        engine.dispose()


@asynccontextmanager
async def agent_client(running: Running, email: str = AGENT) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running.url, follow_redirects=False, timeout=10) as client:
        assert (await log_in(client, email)).status_code == 303
        yield client


async def post_form(client: httpx.AsyncClient, page: str, action: str, **fields: Any) -> httpx.Response:
    token = csrf_of((await client.get(page)).text)
    return await client.post(action, data={"csrf_token": token, **fields})


# --- tickets --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/tickets", "/tickets/PAU-2026-000001", "/handoffs", "/handoffs/1"])
async def test_anonymous_visitors_are_sent_to_login(running: Running, path: str) -> None:
    async with httpx.AsyncClient(base_url=running.url, follow_redirects=False) as client:
        response = await client.get(path)
    assert response.status_code == 302 and response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"voirie", "eclairage_public", "proprete"}),
        ({"categorie": "voirie"}, {"voirie"}),
        ({"etat": "pris_en_charge"}, {"proprete"}),
        ({"statut": "open"}, {"voirie", "eclairage_public", "proprete"}),
        ({"rue": "bd des pyrenees"}, {"eclairage_public"}),
        ({"rue": "serviez"}, {"voirie"}),
        ({"du": "2026-11-25", "au": "2026-11-25"}, {"voirie", "eclairage_public", "proprete"}),
        ({"au": "2026-11-24"}, set()),
    ],
)
async def test_agent_filters_tickets(running: Running, query: dict[str, str], expected: set[str]) -> None:
    refs = seed_tickets(running.tickets)
    running.tickets.set_status(refs[2], "pris_en_charge", "équipe propreté prévenue", "agent@pau.example")
    async with agent_client(running) as client:
        page = await client.get("/tickets", params=query)
    assert page.status_code == 200
    shown = {code for code, ref in zip(("voirie", "eclairage_public", "proprete"), refs) if f">{ref}<" in page.text}
    assert shown == expected
    assert f"{len(expected)} ticket" in page.text


async def test_ticket_list_is_paginated(running: Running) -> None:
    for number in range(27):
        running.tickets.create_ticket(TicketDraft("graffiti", f"tag n° {number}", "Rue Carnot"))
    async with agent_client(running) as client:
        first = await client.get("/tickets", params={"categorie": "graffiti"})
        second = await client.get("/tickets", params={"categorie": "graffiti", "page": "2"})
    assert "Page 1 sur 2" in first.text and 'href="/tickets?categorie=graffiti&amp;page=2"' in first.text
    assert second.text.count('<th scope="row">') == 2


async def test_ticket_page_shows_history_photo_and_map(running: Running) -> None:
    ref = seed_tickets(running.tickets)[0]
    async with agent_client(running) as client:
        page = await client.get(f"/tickets/{ref}")
        loose = await client.get(f"/tickets/{ref.lower().replace('-', '')}")
    assert page.status_code == 200
    assert "nid-de-poule profond" in page.text and "Nouveau" in page.text
    assert "https://www.openstreetmap.org/?mlat=43.296100&amp;mlon=-0.370000#map=18/43.296100/-0.370000" in page.text
    photo = running.tickets.get_ticket(ref).media_url.removeprefix("media:")  # type: ignore[union-attr]
    assert f'<img src="/media/{photo}"' in page.text
    assert "img-src 'self' data:;" in page.headers["content-security-policy"]  # no other host, ever
    assert loose.status_code == 301 and loose.headers["location"] == f"/tickets/{ref}"


async def test_a_ticket_photo_is_served_to_signed_in_staff_only(running: Running) -> None:
    ref = seed_tickets(running.tickets)[0]
    photo = running.tickets.get_ticket(ref).media_url.removeprefix("media:")  # type: ignore[union-attr]
    async with agent_client(running) as client:
        seen = await client.get(f"/media/{photo}")
        missing = await client.get(f"/media/{'0' * 32}.jpg")
    async with httpx.AsyncClient(base_url=running.url) as stranger:
        refused = await stranger.get(f"/media/{photo}")
        forged = await stranger.get(f"/media/{photo}?expires=9999999999&signature=00")

    assert seen.status_code == 200 and seen.headers["content-type"] == "image/jpeg"
    assert seen.content.startswith(b"\xff\xd8") and seen.headers["x-content-type-options"] == "nosniff"
    assert missing.status_code == 404
    assert refused.status_code == 401 and forged.status_code == 403
    assert photo not in refused.text


async def test_a_session_with_a_temporary_password_sees_no_photo_before_choosing_its_own(running: Running) -> None:
    ref = seed_tickets(running.tickets)[0]
    photo = running.tickets.get_ticket(ref).media_url.removeprefix("media:")  # type: ignore[union-attr]
    agent = next(u for u in accounts.list_staff_users(running.engine) if u.email == AGENT)
    _, temporary = accounts.reset_staff_password(running.engine, agent.id, actor=ADMIN)
    async with httpx.AsyncClient(base_url=running.url, follow_redirects=False, timeout=10) as client:
        landed = await log_in(client, AGENT, temporary)
        held = await client.get(f"/media/{photo}")
    assert landed.status_code == 303 and landed.headers["location"] == "/mot-de-passe"
    assert held.status_code == 401 and photo not in held.text


async def test_unknown_ticket_is_a_french_404(running: Running) -> None:
    async with agent_client(running) as client:
        page = await client.get("/tickets/PAU-2026-999999")
    assert page.status_code == 404 and "Ticket introuvable" in page.text


async def test_status_change_notifies_the_citizen_through_the_outbox_and_is_audited(running: Running) -> None:
    ref = seed_tickets(running.tickets)[0]
    async with agent_client(running) as client:
        response = await post_form(client, f"/tickets/{ref}", f"/tickets/{ref}/status",
                                   state="planifie", note="Intervention prévue jeudi.", reason="")  # fmt: skip
        assert response.status_code == 303 and response.headers["location"] == f"/tickets/{ref}?modifie=1"
        page = await client.get(response.headers["location"])
    ticket = running.tickets.get_ticket(ref)
    assert ticket is not None and (ticket.state, ticket.status_notes) == ("planifie", "Intervention prévue jeudi.")
    assert running.tickets.history(ref)[-1].actor == AGENT
    (job,) = OutboxStore(running.engine).jobs(kind="ticket_update")
    assert (job.channel, job.recipient, job.payload["ticket_state"]) == ("webchat", WEB_SENDER, "planifie")
    assert "État enregistré" in page.text and "en attente d'envoi" in html.unescape(page.text)
    assert audit_actions(running.engine)[-1] == "ticket_status"


async def test_ticket_page_tells_sent_from_delivered_and_shows_a_failed_fallback(running: Running) -> None:
    from datetime import timedelta

    from bot.town.tickets.fallback import FallbackPlanner
    from bot.town.tickets.held import HeldMessages

    ref = seed_tickets(running.tickets)[0]
    running.tickets.set_status(ref, "planifie", "Jeudi.", actor=AGENT)
    outbox = OutboxStore(running.engine)
    now = running.tickets.clock()
    [job], _ = outbox.claim_due(now, limit=5, lease=timedelta(minutes=5))
    outbox.mark_sent(job.id, now, held=[{"text": "Mise à jour."}])
    async with agent_client(running) as client:
        waiting = html.unescape((await client.get(f"/tickets/{ref}")).text)
        with write_transaction(running.engine) as conn:  # the citizen had given an e-mail and said « oui »
            conn.execute(tickets.update().where(tickets.c.service_request_id == ref).values(contact="a@b.fr"))
            conn.execute(contact_consents.insert().values(ticket_id=running.tickets.get_ticket(ref).id, given_at=now))
        assert FallbackPlanner(running.engine, timedelta(minutes=1)).plan(now + timedelta(minutes=2)) == 1
        [fallback], _ = outbox.claim_due(now + timedelta(minutes=2), limit=5, lease=timedelta(minutes=5))
        outbox.mark_failed(fallback.id, "SMTP server refused or unreachable", now + timedelta(minutes=3))
        failed = html.unescape((await client.get(f"/tickets/{ref}")).text)
        [held] = HeldMessages(running.engine).waiting("webchat", [WEB_SENDER])
        HeldMessages(running.engine).claim(held.id, now + timedelta(minutes=4))
        delivered = html.unescape((await client.get(f"/tickets/{ref}")).text)

    assert "envoyée, pas encore reçue par le citoyen" in waiting and "<td>remise</td>" not in waiting
    assert "e-mail (secours, contact du signalement)" in failed and "échec, nouvel essai prévu (1 essai)" in failed
    assert "a@b.fr" not in failed  # the contact stays masked on the page
    assert "<td>remise</td>" in delivered


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"state": "non_retenu", "note": "", "reason": ""}, "Un ticket non retenu demande un motif."),
        ({"state": "perdu", "note": "", "reason": ""}, "Choisissez un état."),
    ],
)
async def test_invalid_status_change_is_refused_and_nothing_is_sent(
    running: Running, fields: dict[str, str], message: str
) -> None:
    ref = seed_tickets(running.tickets)[0]
    async with agent_client(running) as client:
        response = await post_form(client, f"/tickets/{ref}", f"/tickets/{ref}/status", **fields)
    assert response.status_code == 400 and message in response.text
    assert OutboxStore(running.engine).jobs() == []


async def test_rejection_with_a_reason_tells_the_citizen_why(running: Running) -> None:
    ref = seed_tickets(running.tickets)[1]
    async with agent_client(running) as client:
        await post_form(client, f"/tickets/{ref}", f"/tickets/{ref}/status",
                        state="non_retenu", note="", reason="Voie privée, hors compétence de la ville.")  # fmt: skip
    (job,) = OutboxStore(running.engine).jobs(kind="ticket_update")  # and the satisfaction question (its own tests)
    assert job.payload["status_note"] == "Voie privée, hors compétence de la ville."
    assert running.tickets.get_ticket(ref).status == "closed"  # type: ignore[union-attr]


async def test_status_change_without_csrf_token_is_refused(running: Running) -> None:
    ref = seed_tickets(running.tickets)[0]
    async with agent_client(running) as client:
        response = await client.post(f"/tickets/{ref}/status", data={"state": "traite"})
    assert response.status_code == 403 and running.tickets.get_ticket(ref).state == "nouveau"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("contact", "raw_forms", "masked"),
    [
        ("+33612345678", ["+33612345678", "06 12 34 56 78", "0612345678"], "06 •• •• •• 78"),
        ("jeanne.martin@exemple.fr", ["jeanne.martin@exemple.fr"], "j•••@exemple.fr"),
    ],
)
async def test_agent_sees_a_ticket_contact_masked_until_an_audited_reveal(
    running: Running, contact: str, raw_forms: list[str], masked: str
) -> None:
    ref = running.tickets.create_ticket(
        TicketDraft("voirie", "trottoir défoncé", "Rue Carnot", channel="sms", sender_id="sms:p-2", contact=contact)
    ).ref
    async with agent_client(running) as client:
        page = await client.get(f"/tickets/{ref}")
        revealed = await client.post(f"/tickets/{ref}/contact", data={"csrf_token": csrf_of(page.text)})
        again = await client.get(f"/tickets/{ref}")
    assert page.status_code == 200 and masked in html.unescape(page.text)
    assert not any(raw in html.unescape(page.text) for raw in raw_forms)
    assert "Afficher le contact" in page.text
    assert revealed.status_code == 200 and contact in html.unescape(revealed.text)
    assert not any(raw in html.unescape(again.text) for raw in raw_forms)  # for that page view only
    with running.engine.connect() as conn:
        (entry,) = conn.execute(select(audit_log).where(audit_log.c.action == "reveal_contact")).all()
    assert (entry.actor, entry.target, entry.at) == (AGENT, ref, NOW)
    assert contact not in (entry.detail or "")  # the audit log says who looked, never what they saw


async def test_revealing_a_contact_needs_a_session_and_the_form_token(running: Running) -> None:
    ref = running.tickets.create_ticket(TicketDraft("voirie", "trou", "Rue Carnot", contact="+33612345678")).ref
    async with httpx.AsyncClient(base_url=running.url, follow_redirects=False) as stranger:
        anonymous = await stranger.post(f"/tickets/{ref}/contact", data={})
    async with agent_client(running) as client:
        forged = await client.post(f"/tickets/{ref}/contact", data={"csrf_token": "forged"})
        unknown = await post_form(client, "/tickets", "/tickets/PAU-2026-999999/contact")
    assert anonymous.status_code == 302 and anonymous.headers["location"].startswith("/login")
    assert forged.status_code == 403 and "+33612345678" not in forged.text
    assert unknown.status_code == 404
    assert "reveal_contact" not in audit_actions(running.engine)


# --- handoffs -------------------------------------------------------------------------------------------------


def citizen_waits(running: Running, text: str = "je veux parler a un agent svp") -> int:
    store(running.engine, WEB_SENDER, [
        action("action_listen", NOW - 60), user(text, "request_human", 0.97, NOW - 59),
        action("action_request_human", NOW - 58), bot("Je transmets votre demande à un agent.", NOW - 58),
    ])  # fmt: skip
    return running.handoffs.open_request(WEB_SENDER, "webchat", NOW - 58).id


async def test_waiting_citizen_appears_in_the_queue_and_an_agent_takes_it(running: Running) -> None:
    request_id = citizen_waits(running)
    async with agent_client(running) as client:
        queue = await client.get("/handoffs")
        assert "1 demande en cours" in queue.text and "je veux parler a un agent svp" in queue.text
        taken = await post_form(client, "/handoffs", f"/handoffs/{request_id}/take")
        assert taken.status_code == 303 and taken.headers["location"] == f"/handoffs/{request_id}"
        page = await client.get(f"/handoffs/{request_id}")
    assert "Votre message au citoyen" in page.text and "pris en charge par agent@pau.example" in page.text
    assert running.handoffs.get(request_id).agent == AGENT  # type: ignore[union-attr]
    assert audit_actions(running.engine)[-1] == "handoff_take"


async def test_a_second_agent_cannot_take_the_same_citizen(running: Running) -> None:
    request_id = citizen_waits(running)
    async with agent_client(running) as first, agent_client(running, ADMIN) as second:
        token = csrf_of((await second.get("/handoffs")).text)
        await post_form(first, "/handoffs", f"/handoffs/{request_id}/take")
        late = await second.post(f"/handoffs/{request_id}/take", data={"csrf_token": token})
    assert late.status_code == 409 and "déjà été prise" in html.unescape(late.text)


async def test_new_citizen_messages_reach_the_agent_and_replies_go_out(running: Running) -> None:
    request_id = citizen_waits(running)
    async with agent_client(running) as client:
        await post_form(client, "/handoffs", f"/handoffs/{request_id}/take")
        first = (await client.get(f"/handoffs/{request_id}/messages", params={"after": 0})).json()
        last_id = first["messages"][-1]["id"]
        store(running.engine, WEB_SENDER, [user("mon adresse est 12 rue Serviez", "inform", 0.8, NOW + 5)])
        fresh = (await client.get(f"/handoffs/{request_id}/messages", params={"after": last_id})).json()
        sent = await post_form(client, f"/handoffs/{request_id}", f"/handoffs/{request_id}/reply",
                               text="Merci, je transmets aux services techniques.")  # fmt: skip
    assert fresh["status"] == "taken"
    assert [(m["who"], m["text"]) for m in fresh["messages"]] == [("Citoyen", "mon adresse est 12 rue Serviez")]
    assert sent.status_code == 303
    assert running.control.texts == [(WEB_SENDER, "webchat", "Merci, je transmets aux services techniques.")]
    assert audit_actions(running.engine)[-1] == "handoff_reply"


async def test_someone_who_did_not_take_the_request_reads_it_masked_and_cannot_reply(running: Running) -> None:
    request_id = citizen_waits(running, "rappelez moi au 06 12 34 56 78")
    async with agent_client(running) as client:
        page = await client.get(f"/handoffs/{request_id}")
        refused = await post_form(client, f"/handoffs/{request_id}", f"/handoffs/{request_id}/reply", text="Bonjour")
    assert "06 12 34 56 78" not in page.text
    assert refused.status_code == 409 and running.control.texts == []


async def test_failed_delivery_is_told_to_the_agent(running: Running) -> None:
    request_id = citizen_waits(running)
    running.control.fail_times = 1
    async with agent_client(running) as client:
        await post_form(client, "/handoffs", f"/handoffs/{request_id}/take")
        response = await post_form(client, f"/handoffs/{request_id}", f"/handoffs/{request_id}/reply", text="Bonjour")
    assert response.status_code == 502 and "n'a pas pu être envoyée" in html.unescape(response.text)


async def test_hand_back_resumes_the_bot_and_closes_the_request(running: Running) -> None:
    request_id = citizen_waits(running)
    async with agent_client(running) as client:
        await post_form(client, "/handoffs", f"/handoffs/{request_id}/take")
        response = await post_form(client, f"/handoffs/{request_id}", f"/handoffs/{request_id}/release")
        queue = await client.get(response.headers["location"])
    assert response.status_code == 303 and "Conversation rendue à l'assistant." in html.unescape(queue.text)
    assert running.control.handed_back == [(WEB_SENDER, "webchat")]
    closed = running.handoffs.get(request_id)
    assert closed is not None and (closed.status, closed.outcome, closed.resumed) == ("closed", "handed_back", True)
    assert "Aucun citoyen n'attend un agent." in html.unescape(queue.text)
    assert audit_actions(running.engine)[-2:] == ["handoff_take", "handoff_close"]
