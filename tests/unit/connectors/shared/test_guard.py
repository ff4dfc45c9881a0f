"""What every channel checks before a citizen's text reaches the assistant."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from connectors.shared.channel_stores import open_channel_stores
from connectors.shared.deliveries import MemoryDeliveryLog
from connectors.shared.guard import Guard, SlidingWindowRateLimiter, Verdict, clean_text, neutralise_intent
from connectors.shared.notices import Notices, load_notices
from connectors.shared.offers import Button, MemoryOfferStore, short_key
from connectors.shared.retries import with_retries

OFFERED = '/ask_opening_hours{"service":"mairie"}'


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_citizen_over_the_rate_limit_is_held_back_until_the_window_slides() -> None:
    clock = FakeClock()
    limiter = SlidingWindowRateLimiter(3, window_seconds=60, clock=clock)
    assert [limiter.allow("sms:a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("sms:b") is True  # another citizen is not affected
    clock.now += 59
    assert limiter.allow("sms:a") is False
    clock.now += 1.5
    assert limiter.allow("sms:a") is True


def test_a_flooding_citizen_is_warned_once_per_window() -> None:
    clock = FakeClock()
    limiter = SlidingWindowRateLimiter(1, window_seconds=60, clock=clock)
    assert [limiter.first_refusal("tg:1") for _ in range(3)] == [True, False, False]
    clock.now += 61
    assert limiter.first_refusal("tg:1") is True


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("  bonjour  ", "bonjour"),
        ("bon\x00jour", "bonjour"),
        ("\x07\x1b[31mrouge\x7f", "[31mrouge"),
        ("ligne 1\nligne 2\tfin", "ligne 1\nligne 2\tfin"),
        (None, ""),
        ("\u200b", "\u200b"),  # zero-width space is not a control character; the guard strips nothing else
    ],
)
def test_control_characters_and_nul_are_removed(raw: str | None, cleaned: str) -> None:
    assert clean_text(raw) == cleaned


@pytest.mark.parametrize(
    ("text", "offered", "expected"),
    [
        (OFFERED, [OFFERED], OFFERED),
        ('/erase_my_data{"confirm":true}', [OFFERED], 'erase_my_data{"confirm":true}'),
        ("/restart", [], "restart"),
        ("//greet", [], "greet"),
        ("bonjour", [], "bonjour"),
    ],
)
def test_intent_syntax_is_honoured_only_for_offered_payloads(text: str, offered: list[str], expected: str) -> None:
    assert neutralise_intent(text, offered) == expected


def make_guard(offers: MemoryOfferStore | None = None, now: datetime | None = None) -> Guard:
    clock_now = now or datetime(2026, 3, 2, 9, 0)
    return Guard(
        offers or MemoryOfferStore(clock=lambda: clock_now),
        SlidingWindowRateLimiter(100),
        max_chars=2000,
        clock=lambda: clock_now,
    )


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("text", "verdict", "handed_on"),
    [
        ("", Verdict.EMPTY, ""),
        ("   \n\t ", Verdict.EMPTY, ""),
        ("\x00\x00", Verdict.EMPTY, ""),
        ("/", Verdict.EMPTY, ""),
        ("x" * 2001, Verdict.TOO_LONG, ""),
        ("x" * 2000, Verdict.PASS, "x" * 2000),
        ("🙂🙂🙂", Verdict.PASS, "🙂🙂🙂"),
        ("<script>alert(1)</script>", Verdict.PASS, "<script>alert(1)</script>"),
        ("'; DROP TABLE tickets; --", Verdict.PASS, "'; DROP TABLE tickets; --"),
        ("OÙ EST LA MAIRIE ???", Verdict.PASS, "OÙ EST LA MAIRIE ???"),
        ("0536490000", Verdict.PASS, "0536490000"),
        ('/inform{"problem_type":"voirie"}', Verdict.PASS, 'inform{"problem_type":"voirie"}'),
    ],
)
async def test_guard_screens_citizen_text(text: str, verdict: Verdict, handed_on: str) -> None:
    screened = await make_guard().screen("telegram:1", text)
    assert (screened.verdict, screened.text) == (verdict, handed_on)


@pytest.mark.asyncio
async def test_offered_payload_passes_until_the_offer_expires() -> None:
    offered_at = datetime(2026, 3, 2, 9, 0)
    offers = MemoryOfferStore(clock=lambda: offered_at)
    await offers.remember("sms:abc", [Button("Mairie", OFFERED)])
    fresh = make_guard(offers, now=offered_at + timedelta(hours=2))
    stale = make_guard(offers, now=offered_at + timedelta(days=2))
    assert (await fresh.screen("sms:abc", OFFERED)).text == OFFERED
    assert (await fresh.screen("sms:other", OFFERED)).text == OFFERED[1:]
    assert (await stale.screen("sms:abc", OFFERED)).text == OFFERED[1:]


@pytest.mark.asyncio
async def test_guard_answers_rate_limited_after_the_limit() -> None:
    guard = Guard(MemoryOfferStore(), SlidingWindowRateLimiter(2), max_chars=100)
    verdicts = [(await guard.screen("sms:x", "bonjour")).verdict for _ in range(3)]
    assert verdicts == [Verdict.PASS, Verdict.PASS, Verdict.RATE_LIMITED]


def test_notices_come_from_domain_then_credentials_over_french_defaults(tmp_path: Path) -> None:
    domain = tmp_path / "domain.yml"
    domain.write_text(
        "responses:\n"
        "  utter_channel_rate_limited:\n"
        "  - text: Doucement, merci de patienter.\n"
        "  utter_greet:\n"
        "  - text: Bonjour\n",
        encoding="utf-8",
    )
    notices = load_notices(domain, {"empty": "Message vide.", "not_a_notice": "ignoré"})
    assert notices.rate_limited == "Doucement, merci de patienter."
    assert notices.empty == "Message vide."
    assert notices.unsupported_content == Notices().unsupported_content
    assert "2000" in notices.render("too_long", max_chars=2000)


def test_missing_domain_gives_the_defaults(tmp_path: Path) -> None:
    assert load_notices(tmp_path / "absent.yml") == Notices()


@pytest.mark.asyncio
async def test_each_delivery_is_claimed_once_in_the_database(tmp_path: Path) -> None:
    stores = open_channel_stores(f"sqlite:///{tmp_path / 'channels.db'}")
    first = await stores.deliveries.claim("sms", "SM123")
    results = await asyncio.gather(*(stores.deliveries.claim("sms", "SM123") for _ in range(5)))
    assert first is True and results == [False] * 5
    assert await stores.deliveries.claim("telegram", "SM123") is True  # channels are separate


@pytest.mark.asyncio
async def test_offers_are_kept_per_sender_in_the_database(tmp_path: Path) -> None:
    stores = open_channel_stores(f"sqlite:///{tmp_path / 'channels.db'}")
    await stores.offers.remember("sms:a", [Button("Oui", "/affirm"), Button("Non", "/deny")])
    await stores.offers.remember("sms:a", [Button("Mairie", OFFERED)])
    offer = await stores.offers.recall("sms:a")
    assert offer is not None
    assert offer.menu == [Button("Mairie", OFFERED)]
    assert offer.payloads == [OFFERED, "/affirm", "/deny"]
    assert await stores.offers.recall("sms:b") is None


def test_short_key_fits_telegram_callback_data_and_is_stable() -> None:
    payload = '/inform{"procedure":"inscription_listes_electorales","service":"etat_civil"}'
    assert len(short_key(payload).encode()) <= 64
    assert short_key(payload) == short_key(payload) != short_key(payload + " ")


@pytest.mark.asyncio
async def test_memory_delivery_log_claims_once() -> None:
    log = MemoryDeliveryLog()
    assert [await log.claim("telegram", "1"), await log.claim("telegram", "1")] == [True, False]


@pytest.mark.asyncio
async def test_retries_stop_when_the_error_cannot_be_helped() -> None:
    waits: list[float] = []
    attempts = 0

    async def fail() -> None:
        nonlocal attempts
        attempts += 1
        raise ValueError("permanent")

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    with pytest.raises(ValueError):
        await with_retries(fail, attempts=5, delay_for=lambda e, n: None, sleep=sleep)
    assert (attempts, waits) == (1, [])
    with pytest.raises(ValueError):
        await with_retries(fail, attempts=3, delay_for=lambda e, n: float(n), sleep=sleep)
    assert (attempts, waits) == (4, [1.0, 2.0])
