"""The rasa token the console puts in its calls' URLs (Rasa 3.6 reads it from the query string) never reaches a log."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import httpx
import pytest

from bot.town.notify import QueryTokenFilter, RasaNotifier, hide_tokens_in_logs
from bot.town.tickets.model import OutboxJob

pytestmark = pytest.mark.unit


@pytest.fixture
def hidden() -> object:
    hide_tokens_in_logs()
    yield
    for name in ("httpx", "httpcore"):
        target = logging.getLogger(name)
        for found in [f for f in target.filters if isinstance(f, QueryTokenFilter)]:
            target.removeFilter(found)


async def test_the_notifiers_request_is_logged_without_its_token(
    hidden: object, caplog: pytest.LogCaptureFixture
) -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(200, json={})))
    job = OutboxJob(1, "notify", "k", {"ticket_ref": "PAU-2026-000001", "ticket_state": "traite"}, "telegram",
                    "telegram:42", "pending", 0, datetime.now(timezone.utc))  # fmt: skip
    with caplog.at_level(logging.INFO, "httpx"):
        await RasaNotifier("http://127.0.0.1:5005", "very-secret-token", client=client).send(job)
    assert "trigger_intent" in caplog.text and "token=[hidden]" in caplog.text
    assert "very-secret-token" not in caplog.text


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("GET http://h/status?token=abc", "GET http://h/status?token=[hidden]"),
        (
            "POST http://h/x?output_channel=sms&token=a-b_c&y=1 200",
            "POST http://h/x?output_channel=sms&token=[hidden]&y=1 200",
        ),
        ("GET http://h/status?TOKEN=abc#f", "GET http://h/status?TOKEN=[hidden]#f"),
        ("GET http://h/status?csrf_token=abc", "GET http://h/status?csrf_token=abc"),  # another parameter, kept
    ],
)
def test_only_the_token_parameter_is_hidden(line: str, expected: str) -> None:
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "HTTP Request: %s", (line,), None)
    assert QueryTokenFilter().filter(record) is True
    assert record.getMessage() == f"HTTP Request: {expected}"
