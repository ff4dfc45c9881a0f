"""The rasa server's responses say what the settings say of the town, never a copy of the sample town's.

Rendered the way the rasa server renders them: Rasa builds the generator named in endpoints.yml, and fills domain.yml's
responses for a conversation, with TOWN_NAME=Lescar and RETENTION_DAYS=90.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from rasa.core.nlg import NaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.runtime.nlg import TownResponses
from bot.settings import ROOT, Settings, get_settings

RESPONSES: dict[str, list[dict[str, Any]]] = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))[
    "responses"
]
CHANNELS = ["socketio", "telegram", "sms", "voice", "rest"]
COPIES = re.compile(r"\bPau\b|\b180\b")  # the sample town's name and retention period, written out
STATES = ["nouveau", "pris_en_charge", "planifie", "traite", "non_retenu", None]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture
def lescar(monkeypatch: pytest.MonkeyPatch, domain: Domain) -> Iterator[NaturalLanguageGenerator]:
    """The generator as the rasa server builds it from endpoints.yml, in a town that is not the sample one."""
    monkeypatch.setenv("TOWN_NAME", "Lescar")
    monkeypatch.setenv("RETENTION_DAYS", "90")
    get_settings.cache_clear()
    nlg_endpoint = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))["nlg"]
    yield NaturalLanguageGenerator.create(EndpointConfig.from_dict(nlg_endpoint), domain)
    get_settings.cache_clear()


def conversation(domain: Domain, **slots: Any) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("webchat:5f0c1d", [SlotSet(k, v) for k, v in slots.items()], domain.slots)


async def say(
    nlg: NaturalLanguageGenerator, response: str, tracker: DialogueStateTracker, channel: str, **kw: Any
) -> str:
    message = await nlg.generate(response, tracker, channel, **kw)
    assert message is not None
    return str(message["text"])


def test_endpoints_yml_names_the_towns_generator(lescar: NaturalLanguageGenerator) -> None:
    assert isinstance(lescar, TownResponses)


@pytest.mark.parametrize("channel", CHANNELS)
async def test_greeting_and_privacy_notice_name_the_town_and_its_retention_period(
    lescar: NaturalLanguageGenerator, domain: Domain, channel: str
) -> None:
    greeting = await say(lescar, "utter_greet", conversation(domain), channel)
    assert "Ville de Lescar" in greeting and re.search(r"\b90 j", greeting) and "données sensibles" in greeting
    assert not COPIES.search(greeting)


@pytest.mark.parametrize(
    ("response", "variables"),
    [
        ("utter_iamabot", {}),  # bot_challenge
        ("utter_out_of_scope", {}),
        (
            "utter_service_unknown",
            {"asked": "patinoire", "town_hall_phone": "05 36 49 10 00", "town_hall_email": "a@b.fr"},
        ),
        ("utter_service_unknown_plain", {"asked": "patinoire"}),
        ("utter_waste_street_unknown", {"asked": "rue inconnue", "town_hall_phone": "05 36 49 10 00"}),
        ("utter_waste_street_unknown_plain", {"asked": "rue inconnue"}),
    ],
)
async def test_answers_that_speak_of_the_town_say_its_name(
    lescar: NaturalLanguageGenerator, domain: Domain, response: str, variables: dict[str, str]
) -> None:
    text = await say(lescar, response, conversation(domain), "socketio", **variables)
    assert "Lescar" in text and not COPIES.search(text)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_ticket_notification_names_the_town(
    lescar: NaturalLanguageGenerator, domain: Domain, state: str | None, channel: str
) -> None:
    notified = conversation(domain, ticket_ref="PAU-2026-000123", ticket_state=state, status_note="Réparé")
    text = await say(lescar, "utter_ticket_update", notified, channel)
    assert text.startswith("Ville de Lescar : ") and "PAU-2026-000123" in text
    assert "None" not in text


async def test_the_sample_town_is_the_default(domain: Domain, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOWN_NAME", raising=False)
    monkeypatch.delenv("RETENTION_DAYS", raising=False)
    nlg = TownResponses(domain=domain, settings=Settings(_env_file=None))
    greeting = await say(nlg, "utter_greet", conversation(domain), "socketio")
    assert "Ville de Pau" in greeting and "conservés 180 jours" in greeting


async def test_an_actions_own_variable_still_wins(lescar: NaturalLanguageGenerator, domain: Domain) -> None:
    text = await say(lescar, "utter_iamabot", conversation(domain), "socketio", town_name="Billère")
    assert "Ville de Billère" in text


def test_no_response_writes_the_towns_name_or_retention_period_itself() -> None:
    for name, variants in RESPONSES.items():
        for variant in variants:
            said = " ".join([variant.get("text", ""), *(b["title"] for b in variant.get("buttons", []))])
            assert not COPIES.search(said), f"{name} copies a setting: {said!r}"


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_town_that_starts_with_a_vowel_is_elided(
    domain: Domain, monkeypatch: pytest.MonkeyPatch, channel: str
) -> None:
    monkeypatch.setenv("TOWN_NAME", "Orthez")
    nlg = TownResponses(domain=domain, settings=Settings(_env_file=None))
    greeting = await say(nlg, "utter_greet", conversation(domain), channel)
    notified = conversation(domain, ticket_ref="PAU-2026-000123", ticket_state="traite", status_note="Réparé")
    update = await say(nlg, "utter_ticket_update", notified, channel)
    street = await say(nlg, "utter_waste_street_unknown_plain", conversation(domain), channel, asked="rue X")
    assert "Ville d'Orthez" in greeting and "de Orthez" not in greeting
    assert update.startswith("Ville d'Orthez : ") and "rues d'Orthez" in street


@pytest.mark.parametrize("state", STATES)
async def test_a_ticket_notification_by_sms_says_how_to_stop_and_fits_the_budget(
    lescar: NaturalLanguageGenerator, domain: Domain, state: str | None
) -> None:
    from connectors.sms.rendering import segment_count

    notified = conversation(domain, ticket_ref="PAU-2026-000123", ticket_state=state, status_note="Réparé jeudi.")
    by_sms = await say(lescar, "utter_ticket_update", notified, "sms")
    elsewhere = await say(lescar, "utter_ticket_update", notified, "socketio")
    assert by_sms.endswith("STOP pour ne plus recevoir de SMS.") and "STOP" not in elsewhere
    assert by_sms.startswith(elsewhere.rstrip()[: len("Ville de Lescar : ")]) and segment_count(by_sms) <= 3
