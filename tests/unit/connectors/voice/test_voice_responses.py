"""The `channel: voice` variants of domain.yml are made for the ear, and Rasa picks them for the phone channel."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

from bot.runtime.nlg import TownResponses
from bot.settings import ROOT, Settings
from connectors.shared.notices import Notices
from connectors.voice.answers import VoiceCollector, spoken_answer

RESPONSES: dict[str, list[dict[str, Any]]] = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))[
    "responses"
]
VOICE_VARIANTS = [(name, v) for name, variants in RESPONSES.items() for v in variants if v.get("channel") == "voice"]
# What a caller cannot use: links, e-mail addresses, « écrivez », « tapez « aide » », a paperclip.
NOT_FOR_THE_EAR = re.compile(r"\{(map_url|link|website|email)\}|http|\b[ÉéEe]crivez|Tapez «|📎")


@pytest.fixture(scope="module")
def nlg() -> TownResponses:
    domain = Domain.load(str(ROOT / "domain.yml"))
    return TownResponses(domain=domain, settings=Settings(_env_file=None))


def call() -> DialogueStateTracker:
    return DialogueStateTracker.from_events("voice:0123456789abcdef0123", [])


def test_the_most_used_answers_have_a_voice_variant() -> None:
    names = {name for name, _ in VOICE_VARIANTS}
    assert {
        "utter_greet", "utter_help", "utter_ask_rephrase", "utter_default", "utter_service_location",
        "utter_service_contact", "utter_procedure_appointment", "utter_procedure_no_appointment",
        "utter_ask_report_category", "utter_ask_report_location", "utter_ask_report_photo", "utter_report_summary",
        "utter_report_created",
    } <= names  # fmt: skip


@pytest.mark.parametrize(("name", "variant"), VOICE_VARIANTS, ids=[name for name, _ in VOICE_VARIANTS])
def test_voice_variants_have_no_link_and_nothing_to_write(name: str, variant: dict[str, Any]) -> None:
    assert not NOT_FOR_THE_EAR.search(variant["text"])


async def test_the_phone_channel_gets_the_voice_variant(nlg: TownResponses) -> None:
    greeting = await nlg.generate("utter_greet", call(), VoiceCollector.name())
    assert greeting is not None and "parler à quelqu'un" in greeting["text"] and "Ville de Pau" in greeting["text"]


async def test_a_created_report_is_spoken_with_its_reference_twice_and_offered_by_sms(nlg: TownResponses) -> None:
    message = await nlg.generate("utter_report_created", call(), "voice", ticket_ref="PAU-2026-000042")
    assert message is not None and message["custom"] == {"voice": "offer_sms", "ticket_ref": "PAU-2026-000042"}
    spoken = spoken_answer([message], Notices())
    assert spoken.reference == "PAU-2026-000042"
    assert spoken.sayings[0].count("P, A, U, deux mille vingt-six, zéro, zéro, zéro, zéro, quatre, deux") == 2


@pytest.mark.parametrize("response", ["utter_ask_rephrase", "utter_default", "utter_did_you_mean"])
async def test_misunderstandings_are_marked_for_the_phone_channel_to_count(nlg: TownResponses, response: str) -> None:
    message = await nlg.generate(response, call(), "voice")
    assert message is not None and spoken_answer([message], Notices()).misunderstood
