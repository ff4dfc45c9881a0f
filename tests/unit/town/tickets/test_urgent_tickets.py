"""A danger makes a ticket urgent: stored as its priority (older databases migrated), alerted by e-mail through the
outbox, published as an Open311 extended attribute."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.db import create_engine_for
from bot.town.mail import FakeMailer, SmtpServer
from bot.town.notify import KindRouter
from bot.town.tickets import Backoff, OutboxStore, OutboxWorker, TicketDraft, TicketStore, create_schema
from bot.town.tickets.alerts import UrgentAlertSender, alert_message
from bot.town.tickets.open311 import service_request
from bot.town.tickets.outbox import ALERT_KIND
from tests.unit.town.tickets.conftest import START

ON_CALL = "astreinte@pau.example"
CONSOLE = "https://console.pau.example"


def alerting(engine: Engine, **options) -> TicketStore:
    return TicketStore(engine, clock=lambda: START, alert_email=ON_CALL, console_url=CONSOLE, **options)


@pytest.mark.parametrize(
    ("description", "urgent_in_conversation", "priority"),
    [
        ("ça sent le gaz devant le 5 rue Gassion", False, "urgent"),
        ("un câble électrique est tombé sur le trottoir", False, "urgent"),
        ("la chaussée s'est effondrée", False, "urgent"),
        ("nid de poule profond", True, "urgent"),  # the danger was in an earlier message of the report
        ("nid de poule profond", False, "normal"),
        ("le feu rouge est en panne", False, "normal"),
    ],
)
def test_a_danger_makes_the_ticket_urgent(
    engine: Engine, description: str, urgent_in_conversation: bool, priority: str
) -> None:
    draft = TicketDraft("voirie", description, "Rue Gassion", channel="sms", sender_id="sms:p1",
                        urgent=urgent_in_conversation)  # fmt: skip
    ticket = alerting(engine).create_ticket(draft)
    assert ticket.priority == priority and ticket.urgent is (priority == "urgent")
    assert TicketStore(engine).get_ticket(ticket.ref).priority == priority  # type: ignore[union-attr]


def test_an_urgent_ticket_queues_one_alert_without_personal_data(engine: Engine) -> None:
    draft = TicketDraft("eau_assainissement", "odeur de gaz, appelez-moi au 06 12 34 56 78", "12 bis Rue Serviez",
                        channel="telegram", sender_id="telegram:42")  # fmt: skip
    ticket = alerting(engine).create_ticket(draft)
    alerting(engine).create_ticket(TicketDraft("voirie", "trou", "Rue Carnot"))  # not urgent: no alert

    [job] = OutboxStore(engine).jobs(kind=ALERT_KIND)
    assert (job.channel, job.recipient, job.dedup_key) == ("email", ON_CALL, f"urgent_alert:{ticket.ref}")
    assert job.payload == {
        "ticket_ref": ticket.ref,
        "category": "Eau et assainissement (fuite, égout, avaloir bouché)",
        "location": "Rue Serviez",
        "ticket_url": f"{CONSOLE}/tickets/{ticket.ref}",
    }
    subject, body = alert_message(job.payload)
    assert ticket.ref in subject and "urgent" in subject
    assert "Rue Serviez" in body and f"{CONSOLE}/tickets/{ticket.ref}" in body and "12 bis" not in body
    assert "06 12" not in body and "telegram:42" not in body


def test_a_located_urgent_ticket_gives_the_rounded_position(engine: Engine) -> None:
    draft = TicketDraft("voirie", "inondation", lat=43.296123, long=-0.370456)
    alerting(engine).create_ticket(draft)
    [job] = OutboxStore(engine).jobs(kind=ALERT_KIND)
    assert job.payload["location"] == "position 43.296, -0.370 (arrondie)"


def test_without_an_on_call_address_nothing_is_queued(engine: Engine) -> None:
    ticket = TicketStore(engine, clock=lambda: START).create_ticket(TicketDraft("voirie", "fuite de gaz", "Rue Carnot"))
    assert ticket.urgent and OutboxStore(engine).jobs(kind=ALERT_KIND) == []


async def test_the_alert_is_retried_until_the_mail_server_takes_it(engine: Engine) -> None:
    now = [START]
    alerting(engine).create_ticket(TicketDraft("voirie", "fuite de gaz", "Rue Carnot"))
    mailer = FakeMailer(fail_times=1)
    worker = OutboxWorker(OutboxStore(engine), KindRouter({ALERT_KIND: UrgentAlertSender(mailer)}),
                          clock=lambda: now[0], backoff=Backoff(base_seconds=30))  # fmt: skip

    assert (await worker.run_once()).failed == 1 and mailer.sent == []
    now[0] += timedelta(seconds=31)
    assert (await worker.run_once()).sent == 1
    [(to, subject, body)] = mailer.sent
    assert to == ON_CALL and "Signalement urgent" in subject and "Lieu : Rue Carnot" in body


def test_open311_publishes_the_priority_to_everyone(engine: Engine) -> None:
    store = alerting(engine)
    urgent = store.create_ticket(TicketDraft("voirie", "fuite de gaz", "Rue Carnot"))
    plain = store.create_ticket(TicketDraft("voirie", "trou", "Rue Carnot"))
    zone = ZoneInfo("Europe/Paris")
    assert service_request(urgent, zone)["extended_attributes"] == {"priority": "urgent"}
    assert service_request(urgent, zone, exact_position=True)["extended_attributes"] == {"priority": "urgent"}
    assert service_request(plain, zone)["extended_attributes"] == {"priority": "normal"}


def test_a_database_of_an_older_guichet_gets_the_new_columns_and_keeps_its_tickets(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:  # the tickets table as the previous release created it
        conn.exec_driver_sql(
            "CREATE TABLE tickets (id INTEGER PRIMARY KEY, service_request_id VARCHAR(32) NOT NULL UNIQUE, "
            "service_code VARCHAR(40) NOT NULL, status VARCHAR(8) NOT NULL, status_notes TEXT, "
            "description TEXT NOT NULL, address VARCHAR(300), lat FLOAT, long FLOAT, media_url VARCHAR(1000), "
            "requested_datetime DATETIME NOT NULL, updated_datetime DATETIME NOT NULL, expected_datetime DATETIME, "
            "state VARCHAR(20) NOT NULL, state_reason TEXT, street VARCHAR(200), channel VARCHAR(40) NOT NULL, "
            "sender_id VARCHAR(200), contact VARCHAR(300), idempotency_key VARCHAR(200) UNIQUE)"
        )
        conn.exec_driver_sql(
            "INSERT INTO tickets (service_request_id, service_code, status, description, requested_datetime, "
            "updated_datetime, state, channel) VALUES ('PAU-2026-000001', 'voirie', 'open', 'trou', "
            "'2026-11-01 10:00:00', '2026-11-01 10:00:00', 'nouveau', 'sms')"
        )

    create_schema(engine)
    create_schema(engine)  # every start runs it: the second time changes nothing

    columns = {c["name"] for c in sa.inspect(engine).get_columns("tickets")}
    assert {"priority", "external_id", "external_token", "external_status", "external_notes"} <= columns
    old = TicketStore(engine).get_ticket("PAU-2026-000001")
    assert old is not None and old.priority == "normal" and old.external_id is None
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.pau.example", SmtpServer("mail.pau.example", 587, False)),
        ("smtp://mail.pau.example:2525", SmtpServer("mail.pau.example", 2525, False)),
        ("smtps://alertes%40pau:s%C3%A9cret@mail.pau.example", SmtpServer("mail.pau.example", 465, True,
                                                                          "alertes@pau", "sécret")),
    ],
)  # fmt: skip
def test_smtp_url_is_read(url: str, expected: SmtpServer) -> None:
    assert SmtpServer.from_url(url) == expected


@pytest.mark.parametrize("url", ["http://mail.pau.example", "smtp://", "mail.pau.example"])
def test_a_wrong_smtp_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="SMTP_URL"):
        SmtpServer.from_url(url)
