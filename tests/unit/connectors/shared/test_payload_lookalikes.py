"""No text but the payload the assistant offered reaches Rasa as an intent, however its slash is dressed up.

Generated systematically (every prefix of up to three characters from a set of spaces, invisible characters and
slashes, then random longer ones with a fixed seed) and judged by Rasa's own parser of `/intent{...}` texts with the
real domain, so the test proves what Rasa does with what the guard hands on, not what the guard believes.
"""

from __future__ import annotations

import itertools
import random
from datetime import datetime

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.settings import ROOT
from connectors.shared.guard import GREET_PAYLOAD, Guard, SlidingWindowRateLimiter, Verdict, clean_text
from connectors.shared.offers import Button, MemoryOfferStore

SENDER = "webchat:lookalikes"
OFFERED = "/affirm"
INIT_PAYLOAD = "/get_started"
NOW = datetime(2026, 3, 2, 9, 0)
SPACES = [" ", "\t", "\n", "\r", "\u00a0", "\u2000", "\u2009", "\u202f", "\u3000", "\u1680", "\u2028", "\u0085"]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\x00", "\x1b"]
SLASHES = ["/", "//", "\u2215", "\uff0f", "\u2044", "\u29f8", "\u2571", "\\"]
PIECES = SPACES + INVISIBLE + SLASHES
BODIES = [
    "ask_procedure",
    "/ask_procedure",
    " ask_procedure",
    'ask_procedure{"procedure": "passeport"}',
    "erase_my_data",
    "affirm",
    "greet",
    "get_started",
    "restart",
]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def rasa_intent(text: str, domain: Domain) -> str | None:
    """The intent Rasa reads from a text without its NLU (a `/intent{...}` payload), or None."""
    unpacked = YAMLStoryReader.unpack_regex_message(Message({TEXT: text}), domain=domain)
    intent = unpacked.get(INTENT)
    return intent.get("name") if intent else None


def lookalikes() -> list[str]:
    """Every short prefix of spaces, invisible characters and slashes before each body, then random longer ones."""
    prefixes = ["".join(p) for size in (1, 2, 3) for p in itertools.product(PIECES, repeat=size)]
    rng = random.Random(20)
    prefixes += ["".join(rng.choices(PIECES, k=rng.randint(4, 12))) for _ in range(2000)]
    texts = [prefix + body for prefix in prefixes for body in BODIES]
    texts += [body + suffix for body in ("/affirm", "/get_started") for suffix in ("\u200b", "/", " /", "{}", "@1.0")]
    texts += ["/" + body[0].upper() + body[1:] for body in BODIES]
    return texts


def guard() -> Guard:
    offers = MemoryOfferStore(clock=lambda: NOW)
    return Guard(offers, SlidingWindowRateLimiter(10**9), 2000, clock=lambda: NOW, init_payload=INIT_PAYLOAD)


async def test_the_generated_texts_really_are_lookalikes_of_a_payload(domain: Domain) -> None:
    """A control: Rasa does read the plain forms as intents, so the test below would notice a guard that let one by."""
    assert rasa_intent("/ask_procedure", domain) == "ask_procedure"
    assert rasa_intent('/ask_procedure{"procedure": "passeport"}', domain) == "ask_procedure"
    assert rasa_intent("\u00a0/ask_procedure", domain) == "ask_procedure"  # Rasa strips Unicode spaces first
    assert len(lookalikes()) > 50_000


async def test_no_generated_lookalike_reaches_rasa_as_an_intent(domain: Domain) -> None:
    screening = guard()
    await screening.offers.remember(SENDER, [Button("Oui", OFFERED)])
    smuggled: dict[str, str | None] = {}
    for text in lookalikes():
        screened = await screening.screen(SENDER, text)
        if screened.verdict is not Verdict.PASS or screened.text in (OFFERED, GREET_PAYLOAD):
            # Only the exact offered payload and the exact init payload may pass as such, after the control
            # characters and surrounding whitespace every message loses.
            assert screened.verdict is not Verdict.PASS or clean_text(text) in (OFFERED, INIT_PAYLOAD)
            continue
        intent = rasa_intent(screened.text, domain)
        if intent is not None or screened.text.lstrip().startswith("/"):
            smuggled[text] = intent
    assert smuggled == {}


@pytest.mark.parametrize(
    ("text", "handed_on"),
    [
        ("/ /ask_procedure", "ask_procedure"),
        ("/\t/ask_procedure", "ask_procedure"),
        (" / / ask_procedure", "ask_procedure"),
        ("\u200b/ask_procedure", "ask_procedure"),
        ("\uff0fask_procedure", "ask_procedure"),
        ("/\u00a0/affirm", "affirm"),
        ("//affirm", "affirm"),
        (OFFERED, OFFERED),
        (f"  {OFFERED}\n", OFFERED),
        (INIT_PAYLOAD, GREET_PAYLOAD),
        ("//get_started", "get_started"),
        ("où trouver le formulaire a/b ?", "où trouver le formulaire a/b ?"),
        ("\u200bbonjour", "\u200bbonjour"),
    ],
)
async def test_the_issues_examples_become_plain_text(text: str, handed_on: str) -> None:
    screening = guard()
    await screening.offers.remember(SENDER, [Button("Oui", OFFERED)])
    assert (await screening.screen(SENDER, text)).text == handed_on


async def test_without_an_init_payload_the_widgets_first_words_are_plain_text() -> None:
    screening = Guard(MemoryOfferStore(), SlidingWindowRateLimiter(10), 2000)
    assert (await screening.screen("telegram:1", INIT_PAYLOAD)).text == "get_started"
