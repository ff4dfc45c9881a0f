"""The satisfaction question by SMS: one short message, « 1. oui / 2. non / Répondez 1 ou 2. », and « 1 » is a yes."""

from __future__ import annotations

from typing import Any

import pytest
from rasa.core.nlg import NaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.settings import ROOT
from connectors.shared.notices import load_notices
from connectors.shared.offers import buttons_from_rasa
from connectors.sms.rendering import SmsRenderer, menu_choice, segment_count


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


async def asked(domain: Domain, channel: str) -> dict[str, Any]:
    nlg = NaturalLanguageGenerator.create(EndpointConfig.from_dict({"type": "bot.runtime.nlg.TownResponses"}), domain)
    tracker = DialogueStateTracker.from_events("sms:abc", [SlotSet("ticket_ref", "PAU-2026-000123")], domain.slots)
    message = await nlg.generate("utter_ask_satisfaction", tracker, channel)
    assert message is not None
    return message


async def test_by_sms_the_question_is_a_numbered_yes_no_in_one_message(domain: Domain) -> None:
    message = await asked(domain, "sms")
    buttons = buttons_from_rasa(message["buttons"])
    sms = SmsRenderer(load_notices(ROOT / "domain.yml")).render(message["text"], buttons)

    assert "PAU-2026-000123" in sms and "La réponse vous convient-elle ?" in sms
    assert "1. oui" in sms and "2. non" in sms and "Répondez 1 ou 2" in sms
    assert segment_count(sms) <= 2
    assert menu_choice("1", buttons).payload == "/affirm"  # type: ignore[union-attr]
    assert menu_choice("2", buttons).payload == "/deny"  # type: ignore[union-attr]


@pytest.mark.parametrize("channel", ["socketio", "telegram"])
async def test_on_web_chat_and_telegram_the_question_has_thumbs_buttons(domain: Domain, channel: str) -> None:
    message = await asked(domain, channel)
    assert [(b["title"], b["payload"]) for b in message["buttons"]] == [("👍 Oui", "/affirm"), ("👎 Non", "/deny")]
