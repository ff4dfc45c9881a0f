"""Honest failures in the rasa server: a down or slow action server gets an answer, a failing store fails loudly."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

from bot.runtime.server import (
    UNAVAILABLE_RESPONSE,
    ConversationStoreFailure,
    ResilientActionEndpoint,
    fail_loudly,
    harden_agent,
    server_arguments,
    server_environment,
)
from bot.settings import Settings
from tests.conftest import free_port


async def serve(reply: bytes | None, delay: float = 0.0) -> AsyncIterator[str]:
    """A loopback HTTP server that answers `reply` `delay` seconds after reading a request, or never answers (None)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(delay)
        if reply is None:
            await reader.read()  # until the caller gives up and closes
        else:
            writer.write(reply)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        server.close()


def http(status: int, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body).encode()
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    return head.encode() + payload


async def call(url: str, timeout: float = 0.5) -> tuple[Any, float]:
    endpoint = ResilientActionEndpoint.wrapping(EndpointConfig(url, token="t"), timeout)
    started = time.monotonic()
    result = await endpoint.request(json={"next_action": "action_service_hours"}, method="post", timeout=300)
    return result, time.monotonic() - started


UNAVAILABLE = {"events": [], "responses": [{"response": UNAVAILABLE_RESPONSE}]}


async def test_action_server_down_gets_the_unavailable_answer_at_once() -> None:
    result, took = await call(f"http://127.0.0.1:{free_port()}/webhook")
    assert result == UNAVAILABLE and took < 0.5


async def test_action_server_too_slow_gets_the_unavailable_answer_after_the_timeout() -> None:
    async for url in serve(None):
        result, took = await call(url, timeout=0.3)
    assert result == UNAVAILABLE and 0.25 < took < 1.5


@pytest.mark.parametrize("status", [500, 502, 503, 404])
async def test_action_server_errors_get_the_unavailable_answer(status: int) -> None:
    async for url in serve(http(status, {"error": "boom"})):
        result, _ = await call(url)
    assert result == UNAVAILABLE


async def test_a_working_action_server_answers_as_usual() -> None:
    answer = {"events": [{"event": "slot", "name": "service", "value": "piscine"}], "responses": []}
    async for url in serve(http(200, answer)):
        result, _ = await call(url)
    assert result == answer


async def test_an_action_rejecting_itself_keeps_rasas_meaning() -> None:
    async for url in serve(http(400, {"action_name": "validate_report_form", "error": "rejected"})):
        with pytest.raises(ClientResponseError):
            await call(url)


def action_call(action: str, sender: str, message_id: str) -> dict[str, Any]:
    return {"next_action": action, "sender_id": sender, "tracker": {"latest_message": {"message_id": message_id}}}


async def test_after_a_timeout_the_rest_of_the_turn_fails_at_once_and_silently() -> None:
    async for url in serve(None):
        endpoint = ResilientActionEndpoint.wrapping(EndpointConfig(url), 0.3)
        first = await endpoint.request(json=action_call("report_form", "c1", "m1"), method="post")
        started = time.monotonic()
        second = await endpoint.request(json=action_call("validate_report_form", "c1", "m1"), method="post")
        took = time.monotonic() - started
        other = await endpoint.request(json=action_call("report_form", "c2", "m9"), method="post")
    assert first == UNAVAILABLE and other == UNAVAILABLE  # another citizen's turn waits for its own call
    assert second == {"events": [], "responses": []} and took < 0.1  # told once, no second wait


async def test_the_next_turn_calls_the_action_server_again() -> None:
    answer = {"events": [], "responses": [{"text": "ok"}]}
    async for url in serve(http(200, answer)):
        endpoint = ResilientActionEndpoint.wrapping(EndpointConfig(url), 0.3)
        endpoint._remember_failure(("c1", "m1"))
        assert await endpoint.request(json=action_call("action_service_hours", "c1", "m2"), method="post") == answer


def test_the_endpoint_keeps_url_token_and_headers() -> None:
    original = EndpointConfig("http://127.0.0.1:5055/webhook", params={"a": "1"}, headers={"X": "y"}, token="tok")
    endpoint = ResilientActionEndpoint.wrapping(original, 1.5)
    assert (endpoint.url, endpoint.params, endpoint.headers, endpoint.token) == (
        original.url, original.params, original.headers, original.token,
    )  # fmt: skip
    assert endpoint.timeout_seconds == 1.5


class BrokenStore(InMemoryTrackerStore):
    """A conversation store whose database is gone."""

    async def save(self, tracker: DialogueStateTracker) -> None:
        raise OSError("disk I/O error")

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        raise OSError("disk I/O error")


class FakeProcessor:
    action_endpoint: Any = None
    tracker_store: Any = None


class FakeAgent:
    def __init__(self, store: Any) -> None:
        self.action_endpoint: Any = EndpointConfig("http://127.0.0.1:5055/webhook")
        self.tracker_store = FailSafeTrackerStore(store)
        self.processor = FakeProcessor()


async def test_rasas_fail_safe_store_would_silently_fall_back_to_memory() -> None:
    store = FailSafeTrackerStore(BrokenStore(Domain.empty()))
    await store.save(DialogueStateTracker("citizen", []))  # no error: the conversation went to memory
    assert await store.retrieve("citizen") is None


async def test_hardened_agent_fails_loudly_when_the_store_fails(caplog: pytest.LogCaptureFixture) -> None:
    agent = harden_agent(FakeAgent(BrokenStore(Domain.empty())), 1.5)  # type: ignore[arg-type]
    with pytest.raises(ConversationStoreFailure):
        await agent.tracker_store.save(DialogueStateTracker("citizen", []))
    with pytest.raises(ConversationStoreFailure):
        await agent.tracker_store.get_or_create_tracker("citizen")
    assert any(r.levelname == "CRITICAL" for r in caplog.records)
    assert agent.processor.tracker_store is agent.tracker_store


def test_hardened_agent_calls_actions_through_the_resilient_endpoint() -> None:
    agent = harden_agent(FakeAgent(InMemoryTrackerStore(Domain.empty())), 1.2)  # type: ignore[arg-type]
    assert isinstance(agent.action_endpoint, ResilientActionEndpoint)
    assert agent.processor.action_endpoint is agent.action_endpoint
    assert agent.action_endpoint.timeout_seconds == 1.2
    assert harden_agent(agent, 1.2).action_endpoint is agent.action_endpoint  # idempotent  # type: ignore[arg-type]


def test_fail_loudly_raises_from_the_original_error() -> None:
    error = OSError("database is locked")
    with pytest.raises(ConversationStoreFailure) as raised:
        fail_loudly(error)
    assert raised.value.__cause__ is error


async def test_calls_reuse_one_connection_to_the_action_server() -> None:
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            while True:  # HTTP/1.1 keep-alive: several requests on this connection
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length"))  # fmt: skip
                await reader.readexactly(length)
                writer.write(http(200, {"events": [], "responses": []}))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/webhook"
    endpoint = ResilientActionEndpoint.wrapping(EndpointConfig(url), 1.0)
    try:
        for turn in range(3):
            answer = await endpoint.request(json=action_call("action_service_hours", "c1", f"m{turn}"), method="post")
            assert answer == {"events": [], "responses": []}
    finally:
        await endpoint._session.close()  # type: ignore[union-attr]
        server.close()
    assert connections == 1


async def test_an_action_call_carries_the_same_json_document() -> None:
    """The body is encoded by ujson (faster); the action server reads the same document as json would give it."""
    from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered

    from bot.runtime.server import action_call_body

    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        received.append(await reader.readexactly(length))
        writer.write(http(200, {"events": [], "responses": []}))
        await writer.drain()
        writer.close()

    events = [ActionExecuted("action_listen"),
              UserUttered("où déposer 2 m³ de gravats ? http://exemple.fr/a/b 🙂",
                          {"name": "ask_waste_collection", "confidence": 0.9999531507492065},
                          [{"entity": "lieu", "value": "rue de l'Église", "start": 3, "end": 9}]),
              SlotSet("report_location", "12 rue Serviez\n64000 Pau")]  # fmt: skip
    state = DialogueStateTracker.from_events("citoyen/1", events).current_state()
    call_json = {"next_action": "action_waste_collection", "sender_id": "citoyen/1", "tracker": state}
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        endpoint = ResilientActionEndpoint.wrapping(
            EndpointConfig(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/webhook"), 1.0
        )
        assert await endpoint.request(json=call_json, method="post") == {"events": [], "responses": []}
    finally:
        server.close()
    assert json.loads(received[0]) == json.loads(json.dumps(call_json)) == call_json
    assert b"http:\\/\\/exemple.fr" in received[0]  # encoded by ujson, which escapes "/"
    # What ujson cannot encode goes through json, as before.
    assert json.loads(action_call_body({"big": 2**70})) == {"big": 2**70}


def write_call(action: str) -> dict[str, Any]:
    return action_call(action, "c1", "m1")


@pytest.mark.parametrize("action", ["action_report_create", "action_request_human"])
async def test_a_busy_action_server_still_records_a_report_or_a_handoff(action: str) -> None:
    answer = {"events": [], "responses": [{"response": "utter_report_created"}]}
    async for url in serve(http(200, answer), delay=1.5):  # slower than the 1.2 s of a catalog answer
        endpoint = ResilientActionEndpoint.wrapping(EndpointConfig(url), 1.2, write_timeout_seconds=15.0)
        assert await endpoint.request(json=write_call(action), method="post") == answer


async def test_a_busy_action_server_still_gets_the_short_timeout_for_a_catalog_question() -> None:
    async for url in serve(http(200, {"events": [], "responses": []}), delay=0.6):
        endpoint = ResilientActionEndpoint.wrapping(EndpointConfig(url), 0.3, write_timeout_seconds=3.0)
        started = time.monotonic()
        result = await endpoint.request(json=write_call("action_service_hours"), method="post")
    assert result == UNAVAILABLE and time.monotonic() - started < 0.55


async def test_a_dead_action_server_fails_a_report_at_once() -> None:
    endpoint = ResilientActionEndpoint.wrapping(EndpointConfig(f"http://127.0.0.1:{free_port()}/webhook"), 0.3, 10.0)
    started = time.monotonic()
    result = await endpoint.request(json=write_call("action_report_create"), method="post")
    assert result == UNAVAILABLE and time.monotonic() - started < 0.5


async def test_a_report_is_not_waited_for_beyond_its_bound() -> None:
    async for url in serve(None):
        endpoint = ResilientActionEndpoint.wrapping(EndpointConfig(url), 0.1, write_timeout_seconds=0.5)
        started = time.monotonic()
        result = await endpoint.request(json=write_call("action_report_create"), method="post")
        took = time.monotonic() - started
    assert result == UNAVAILABLE and 0.45 < took < 1.5


def test_the_api_token_is_added_inside_the_process_not_on_its_command_line() -> None:
    run = ["run", "--model", "m.tar.gz", "--enable-api"]
    assert server_arguments(run, "secret") == [*run, "--auth-token", "secret"]
    assert server_arguments([*run, "--auth-token", "given"], "secret") == [*run, "--auth-token", "given"]
    assert server_arguments([*run, "--jwt-secret", "k"], "secret") == [*run, "--jwt-secret", "k"]
    assert server_arguments(["run", "--model", "m.tar.gz"], "secret") == ["run", "--model", "m.tar.gz"]


def test_the_rasa_server_gets_the_action_secret_a_request_size_limit_and_no_access_log(tmp_path: Any) -> None:
    settings = Settings(var_dir=tmp_path, action_server_token="s3cret", request_max_bytes=123456, _env_file=None)
    assert server_environment(settings) == {
        "ACTION_SERVER_TOKEN": "s3cret", "SANIC_REQUEST_MAX_SIZE": "123456", "SANIC_ACCESS_LOG": "False"
    }  # fmt: skip
