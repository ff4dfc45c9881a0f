"""The load generator's arithmetic and loop, with a stand-in conversation (no server, no network)."""

from __future__ import annotations

import asyncio

import pytest

from bench.load import SCRIPT, Budget, LoadResult, Sample, closed_loop, percentile


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([10.0], 50, 10.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 95, 4.8),
        ([5.0, 1.0, 3.0], 0, 1.0),
        ([5.0, 1.0, 3.0], 100, 5.0),
    ],
)
def test_percentiles_interpolate_between_closest_ranks(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


def test_a_budget_stops_at_its_turn_count() -> None:
    budget = Budget(max_seconds=60, max_turns=3)
    assert [budget.take() for _ in range(5)] == [True, True, True, False, False]
    assert budget.spent()


def test_a_budget_stops_when_its_time_is_up() -> None:
    budget = Budget(max_seconds=0, max_turns=100)
    assert not budget.take()


def test_the_summary_counts_answered_turns_and_errors_apart() -> None:
    result = LoadResult("embedded / REST", 4, 2.0, [Sample("catalog", 0.010, True), Sample("rule", 0.030, True),
                                                    Sample("catalog", 5.0, False)])  # fmt: skip
    summary = result.summary()
    assert (summary["messages"], summary["errors"], summary["msg_per_s"]) == (2, 1, 1.0)
    assert summary["p50"] == pytest.approx(20.0)
    assert result.summary("catalog")["p50"] == pytest.approx(10.0)


async def test_each_simulated_citizen_waits_for_its_answer_before_the_next_message() -> None:
    in_flight, most = 0, 0

    async def conversation(budget: Budget, result: LoadResult) -> None:
        nonlocal in_flight, most
        while budget.take():
            in_flight += 1
            most = max(most, in_flight)
            await asyncio.sleep(0.001)
            in_flight -= 1
            result.samples.append(Sample("rule", 0.001, True))

    result = await closed_loop("stand-in", 3, conversation, max_seconds=10, max_turns=30)

    assert len(result.samples) == 30
    assert most <= 3
    assert result.throughput > 0


def test_the_script_visits_the_catalog_and_starts_a_report() -> None:
    kinds = {turn.kind for turn in SCRIPT}
    assert {"catalog", "form", "rule"} <= kinds
    assert sum(turn.kind == "catalog" for turn in SCRIPT) >= 4


async def test_each_rest_conversation_is_one_citizen_on_a_connection_of_its_own() -> None:
    """One connection per conversation, kept for its turns: the rasa workers then share citizens between them."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from bench.load import DEGRADED, rest_conversation

    seen: list[tuple[str, int]] = []  # (sender, client port) of every message

    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append((body["sender"], request.transport.get_extra_info("peername")[1]))
        text = DEGRADED if body["message"] == "annuler" else "Bonjour."
        return web.json_response([{"recipient_id": body["sender"], "text": text}])

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    async with TestServer(app, host="127.0.0.1") as server:
        url = str(server.make_url("")).rstrip("/")
        result = await closed_loop("stand-in", 2, rest_conversation(url), max_seconds=30, max_turns=4 * len(SCRIPT))

    senders = {sender for sender, _ in seen}
    assert len(senders) == 4
    for sender in senders:
        assert len({port for who, port in seen if who == sender}) == 1  # one connection for the whole conversation
    assert len({port for _, port in seen}) == 4  # and not shared with another conversation
    # The degraded answer to "annuler" is an error; the other turns are answered.
    assert result.error_count == 4
    assert result.messages == 4 * (len(SCRIPT) - 1)


def test_turns_answered_unavailable_are_counted_apart_at_each_level() -> None:
    result = LoadResult("embedded / REST", 32, 2.0, [Sample("catalog", 0.010, True), Sample("form", 1.3, False, True),
                                                     Sample("catalog", 5.0, False)])  # fmt: skip
    summary = result.summary()
    assert (summary["errors"], summary["unavailable"]) == (2, 1)


async def test_each_phone_call_posts_signed_turns_as_twilio_does_and_times_each_answer() -> None:
    """The bench's phone client: a call start, then one turn per message at `?turn=N`, each signed for the server's
    PUBLIC_URL with twilio's RequestValidator; an unsigned or refused turn is an error."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer
    from twilio.request_validator import RequestValidator
    from twilio.twiml.voice_response import VoiceResponse

    from bench.load import DEGRADED, voice_conversation

    token, public_url = "bench-token", "https://guichet.example"
    turns: list[tuple[str, str, str]] = []  # (CallSid, turn, SpeechResult)

    async def webhook(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        url = public_url + request.path_qs
        if not RequestValidator(token).validate(url, form, request.headers.get("X-Twilio-Signature", "")):
            return web.Response(status=403, text="forbidden")
        turns.append((form["CallSid"], request.query.get("turn", "0"), form.get("SpeechResult", "")))
        twiml = VoiceResponse()
        twiml.say(DEGRADED if form.get("SpeechResult") == "annuler" else "Bonjour.", language="fr-FR")
        return web.Response(text=str(twiml), content_type="text/xml")

    app = web.Application()
    app.router.add_post("/webhooks/voice/webhook", webhook)
    async with TestServer(app, host="127.0.0.1") as server:
        url = str(server.make_url("")).rstrip("/")
        result = await closed_loop("stand-in / phone", 2, voice_conversation(url, token, public_url),
                                   max_seconds=30, max_turns=2 * len(SCRIPT))  # fmt: skip
        refused = await closed_loop("forged", 1, voice_conversation(url, "wrong-token", public_url),
                                    max_seconds=30, max_turns=1)  # fmt: skip

    calls = {sid for sid, _, _ in turns}
    assert len(calls) == 2
    for sid in calls:
        assert [turn for who, turn, _ in turns if who == sid] == [str(n) for n in range(len(SCRIPT) + 1)]
    assert [text for _, turn, text in turns if turn == "1"] == [SCRIPT[0].text] * 2
    assert result.messages == 2 * (len(SCRIPT) - 1) and result.error_count == 2  # "annuler" answered unavailable
    assert refused.error_count == 1 and refused.samples[0].kind == "connect"
