"""Fault injection against the real processes on PostgreSQL: kill or freeze the action server, make the database
unavailable, fail outbound SMS and Telegram, deliver a webhook twice, send a burst — the citizen always gets an
honest French answer, nothing accepted is lost, and the conversation goes on once the fault is gone.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from bot.town.tickets import TicketStore, create_schema
from bot.town.tickets.model import TicketDraft
from connectors.shared.identities import sms_sender_id
from tests.e2e.guichet_stack import PUBLIC_URL, TELEGRAM_SECRET, TWILIO_AUTH_TOKEN, Stack, start_stack

pytestmark = [pytest.mark.model, pytest.mark.postgres]

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
UNAVAILABLE = "momentanément indisponible"
HONEST_ANSWER_SECONDS = 2.0


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A fresh PostgreSQL database for the module, dropped afterwards."""
    name = f"guichet_faults_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            disconnect_everyone(conn, name)
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def disconnect_everyone(conn: sa.engine.Connection, name: str) -> None:
    conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, database: str) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("faults"), database_url=f"postgresql://postgres@127.0.0.1:5432/{database}"
    )
    yield running
    running.stop_all()


def timed_say(stack: Stack, sender: str, text: str) -> tuple[int, str, float]:
    started = time.monotonic()
    response = stack.say(sender, text, timeout=30)
    elapsed = time.monotonic() - started
    return response.status_code, " ".join(m.get("text", "") for m in response.json()), elapsed


def test_citizen_is_told_within_two_seconds_when_the_action_server_is_down_then_served_after_restart(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    sender = f"faults-down-{uuid.uuid4().hex[:6]}"
    status, before, _ = timed_say(stack, sender, "horaires de la piscine")
    assert status == 200 and UNAVAILABLE not in before and before

    stack.kill("action server")
    try:
        status, answer, elapsed = timed_say(stack, sender, "horaires de la mediatheque")
        assert status == 200 and UNAVAILABLE in answer
        assert elapsed < HONEST_ANSWER_SECONDS
        status, greeting, _ = timed_say(stack, sender, "bonjour")  # the conversation stays usable meanwhile
        assert status == 200 and "Guichet" in greeting
    finally:
        stack.start("action server")

    status, after, _ = timed_say(stack, sender, "horaires de la piscine")
    assert status == 200 and UNAVAILABLE not in after and after
    with capsys.disabled():
        print(f"\n  action server down: honest answer in {elapsed:.2f} s")


def test_citizen_is_told_within_two_seconds_when_the_action_server_hangs(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    sender = f"faults-slow-{uuid.uuid4().hex[:6]}"
    stack.pause("action server", True)
    try:
        status, answer, elapsed = timed_say(stack, sender, "horaires de la piscine")
    finally:
        stack.pause("action server", False)
    assert status == 200 and UNAVAILABLE in answer
    assert elapsed < HONEST_ANSWER_SECONDS  # ACTION_TIMEOUT_SECONDS (1.2 s) plus understanding the message
    status, after, _ = timed_say(stack, sender, "horaires de la piscine")
    assert status == 200 and UNAVAILABLE not in after
    with capsys.disabled():
        print(f"\n  action server frozen: honest answer in {elapsed:.2f} s")


def test_database_unavailable_fails_loudly_with_an_honest_answer_then_recovers(stack: Stack, database: str) -> None:
    sender = f"faults-db-{uuid.uuid4().hex[:6]}"
    assert timed_say(stack, sender, "bonjour")[0] == 200
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", future=True)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
            disconnect_everyone(conn, database)
        status, answer, _ = timed_say(stack, sender, "merci")
        assert status == 200 and UNAVAILABLE in answer
        assert "CRITICAL" in stack.log("rasa server") and "conversation store failed" in stack.log("rasa server")
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))
        admin.dispose()

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, answer, _ = timed_say(stack, sender, "merci beaucoup")
        if UNAVAILABLE not in answer:
            break
        time.sleep(1)
    assert status == 200 and UNAVAILABLE not in answer
    assert stack.user_texts(sender)[0] == "bonjour"  # nothing stored before the fault was lost
    assert "merci" not in stack.user_texts(sender)  # nor was the refused message silently kept in memory


def test_the_same_telegram_update_delivered_twice_is_handled_once(stack: Stack) -> None:
    chat_id = 800_000_000 + uuid.uuid4().int % 1_000_000
    update = {"update_id": chat_id % 10**7, "message": {
        "message_id": 1, "date": int(time.time()), "chat": {"id": chat_id, "type": "private"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "Jeanne"}, "text": "bonjour"}}  # fmt: skip
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET, "Content-Type": "application/json"}
    url = f"{stack.rasa_url}/webhooks/telegram/webhook"
    first = httpx.post(url, content=json.dumps(update), headers=headers, timeout=90)
    second = httpx.post(url, content=json.dumps(update), headers=headers, timeout=90)
    assert (first.json(), second.json()) == ({"status": "ok"}, {"status": "duplicate"})
    assert stack.user_texts(f"telegram:{chat_id}") == ["bonjour"]


def test_the_same_sms_delivered_twice_is_handled_once(stack: Stack) -> None:
    number = f"+336{uuid.uuid4().int % 10**8:08d}"
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": number, "To": "+33536490000", "Body": "bonjour"}
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(PUBLIC_URL + "/webhooks/sms/webhook", params)
    headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
    for _ in range(2):
        response = httpx.post(f"{stack.rasa_url}/webhooks/sms/webhook", content=urlencode(params), headers=headers,
                              timeout=30)  # fmt: skip
        assert response.status_code == 200
    sender = sms_sender_id(b"e2e-identity", number)
    deadline = time.monotonic() + 60
    while not stack.user_texts(sender) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)  # a second handling would land by now
    assert stack.user_texts(sender) == ["bonjour"]


def test_a_burst_of_five_messages_in_one_second_is_answered_in_order(stack: Stack) -> None:
    sender = f"faults-burst-{uuid.uuid4().hex[:6]}"
    texts = ["bonjour", "horaires de la piscine", "et la mediatheque ?", "c un bot ?", "merci"]
    answers: dict[int, httpx.Response] = {}

    def send(index: int) -> None:
        answers[index] = stack.say(sender, texts[index], timeout=90)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(texts))]
    sent_at = []
    for thread in threads:
        sent_at.append(time.monotonic())
        thread.start()
        time.sleep(0.15)
    assert sent_at[-1] - sent_at[0] < 1.0  # five messages within one second
    for thread in threads:
        thread.join(timeout=120)
    assert [answers[i].status_code for i in range(5)] == [200] * 5
    assert all(answers[i].json() for i in range(5))  # every message got its own answer
    last = json.dumps(answers[4].json(), ensure_ascii=False)
    assert "Guichet" in answers[0].json()[0]["text"] and ("plaisir" in last or "Je vous en prie" in last)
    assert stack.user_texts(sender) == texts


def test_notifications_that_cannot_be_sent_stay_in_the_outbox_and_are_retried(stack: Stack) -> None:
    engine = stack.engine()
    try:
        create_schema(engine)
        store = TicketStore(engine)
        telegram_chat = 900_000_000 + uuid.uuid4().int % 1_000_000
        senders = [f"telegram:{telegram_chat}", sms_sender_id(b"e2e-identity", "+33536490077")]
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO sms_identities (sender_id, address, last_seen_at) VALUES (:s, :a, :t)"),
                         {"s": senders[1], "a": "+33536490077", "t": datetime.utcnow()})  # fmt: skip
        refs = []
        for sender in senders:
            ticket = store.create_ticket(TicketDraft("voirie", "nid de poule", address="Rue Serviez",
                                                     channel=sender.split(":")[0], sender_id=sender))  # fmt: skip
            store.set_status(ticket.ref, "pris_en_charge", "Une équipe passe demain.", actor="e2e")
            refs.append(ticket.ref)

        def jobs() -> list[sa.engine.Row]:
            with engine.connect() as conn:
                return list(conn.execute(sa.text(
                    "SELECT id, status, attempts, last_error FROM outbox WHERE payload::text LIKE ANY(:refs)"
                ), {"refs": [f"%{r}%" for r in refs]}))  # fmt: skip

        def all_failed_at_least(attempts: int) -> bool:
            current = jobs()
            return len(current) == 2 and all(j.status == "failed" and j.attempts >= attempts for j in current)

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not all_failed_at_least(1):
            time.sleep(1)
        first = jobs()
        assert all_failed_at_least(1) and all(j.last_error for j in first)  # kept, with the reason

        with engine.begin() as conn:  # do not wait the 30 s backoff: make the retry due now
            conn.execute(sa.text("UPDATE outbox SET next_attempt_at = :now WHERE id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)), {"now": datetime.now(timezone.utc) - timedelta(seconds=1),
                                                       "ids": [j.id for j in first]})  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not all_failed_at_least(2):
            time.sleep(1)
        assert all_failed_at_least(2)  # retried, still kept, not lost
    finally:
        engine.dispose()
