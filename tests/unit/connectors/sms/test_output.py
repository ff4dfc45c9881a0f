"""Answers and notifications by SMS go through Twilio's client, honour opt-outs and fail loudly."""

from __future__ import annotations

import pytest

from connectors.shared.identities import MemoryIdentityStore
from connectors.shared.notices import Notices
from connectors.shared.offers import MemoryOfferStore
from connectors.shared.optouts import MemoryOptOutStore
from connectors.sms.fake_twilio import RecordingTwilioHttpClient
from connectors.sms.output import SmsOutput, TwilioSender, UnknownSmsRecipient
from connectors.sms.rendering import SmsRenderer, segment_count

SENDER_ID = "sms:0123456789abcdef0123"
NUMBER = "+33536490012"
BUTTONS = [{"title": "Oui", "payload": "/affirm"}, {"title": "Non", "payload": "/deny"}]


class Harness:
    """An SMS output channel on Twilio's real client with a recording transport."""

    def __init__(self, *, buffered: bool = False, attempts: int = 1) -> None:
        self.http = RecordingTwilioHttpClient()
        self.identities = MemoryIdentityStore()
        self.optouts = MemoryOptOutStore()
        self.offers = MemoryOfferStore()
        self.waits: list[float] = []
        sender = TwilioSender("AC" + "1" * 32, "auth-token", "+33536490000", http_client=self.http)
        self.output = SmsOutput(
            sender,
            self.identities,
            self.optouts,
            self.offers,
            SmsRenderer(Notices()),
            buffered=buffered,
            attempts=attempts,
            sleep=self.sleep,
        )

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.mark.asyncio
async def test_notification_reaches_the_number_behind_the_pseudonym() -> None:
    h = Harness()
    await h.identities.remember(SENDER_ID, NUMBER)
    await h.output.send_text_message(SENDER_ID, "Votre signalement PAU-2026-000123 est « Pris en charge ».")
    [call] = h.http.calls
    assert call.method == "POST" and call.uri.endswith("/Messages.json")
    assert call.data == {
        "To": NUMBER,
        "From": "+33536490000",
        "Body": 'Votre signalement PAU-2026-000123 est "Pris en charge".',
    }


@pytest.mark.asyncio
async def test_opted_out_citizen_receives_nothing() -> None:
    h = Harness()
    await h.identities.remember(SENDER_ID, NUMBER)
    await h.optouts.set_opted_out(SENDER_ID, True)
    await h.output.send_text_message(SENDER_ID, "Votre demande est traitée.")
    assert h.http.calls == []


@pytest.mark.asyncio
async def test_unknown_recipient_fails_loudly() -> None:
    h = Harness()
    with pytest.raises(UnknownSmsRecipient):
        await h.output.send_text_message("sms:nobody", "Bonjour")


@pytest.mark.asyncio
async def test_twilio_server_error_is_retried_with_backoff_then_sent() -> None:
    h = Harness(attempts=3)
    await h.identities.remember(SENDER_ID, NUMBER)
    h.http.script(503, {"code": 20503, "message": "Service unavailable", "status": 503})
    h.http.script(429, {"code": 20429, "message": "Too many requests", "status": 429})
    await h.output.send_text_message(SENDER_ID, "Bonjour")
    assert len(h.http.calls) == 3 and h.waits == [0.5, 1.0]


@pytest.mark.asyncio
async def test_refused_message_is_not_retried_and_raises() -> None:
    h = Harness(attempts=3)
    await h.identities.remember(SENDER_ID, NUMBER)
    h.http.script(400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400})
    with pytest.raises(Exception, match="unsubscribed"):
        await h.output.send_text_message(SENDER_ID, "Bonjour")
    assert len(h.http.calls) == 1 and h.waits == []


@pytest.mark.asyncio
async def test_notification_failure_is_raised_for_the_outbox_to_retry() -> None:
    h = Harness(attempts=1)
    await h.identities.remember(SENDER_ID, NUMBER)
    h.http.script(500, {"code": 20500, "message": "Internal error", "status": 500})
    with pytest.raises(Exception, match="Internal error"):
        await h.output.send_text_message(SENDER_ID, "Bonjour")


@pytest.mark.asyncio
async def test_a_turn_is_sent_as_one_sms_with_the_menu_last_and_remembered() -> None:
    h = Harness(buffered=True)
    await h.identities.remember(SENDER_ID, NUMBER)
    await h.output.send_text_message(SENDER_ID, "La piscine est ouverte.")
    await h.output.send_text_with_buttons(SENDER_ID, "Voulez-vous l'adresse ?", BUTTONS)
    assert h.http.calls == []
    await h.output.flush()
    assert h.http.bodies() == ["La piscine est ouverte.\nVoulez-vous l'adresse ?\n1. Oui\n2. Non\nRépondez 1 ou 2."]
    offer = await h.offers.recall(SENDER_ID)
    assert offer is not None and [b.payload for b in offer.menu] == ["/affirm", "/deny"]


@pytest.mark.asyncio
async def test_link_button_becomes_its_link_in_the_text() -> None:
    h = Harness()
    await h.identities.remember(SENDER_ID, NUMBER)
    buttons = [{"title": "Prendre rendez-vous", "url": "https://rdv.pau.example"}, *BUTTONS]
    await h.output.send_text_with_buttons(SENDER_ID, "Carte d'identité : sur rendez-vous.", buttons)
    assert h.http.bodies() == [
        "Carte d'identité : sur rendez-vous.\nPrendre rendez-vous https://rdv.pau.example\n"
        "1. Oui\n2. Non\nRépondez 1 ou 2."
    ]


@pytest.mark.asyncio
async def test_image_and_custom_text_become_text_and_other_custom_payloads_are_not_sent() -> None:
    h = Harness()
    await h.identities.remember(SENDER_ID, NUMBER)
    await h.output.send_image_url(SENDER_ID, "https://www.pau.fr/plan.png")
    await h.output.send_custom_json(SENDER_ID, {"text": "Texte"})
    await h.output.send_custom_json(SENDER_ID, {"map": {"lat": 43.29}})
    assert h.http.bodies() == ["https://www.pau.fr/plan.png", "Texte"]


@pytest.mark.asyncio
async def test_very_long_notification_stays_within_three_segments() -> None:
    h = Harness()
    await h.identities.remember(SENDER_ID, NUMBER)
    await h.output.send_text_message(SENDER_ID, "Votre demande avance bien. " * 60)
    [body] = h.http.bodies()
    assert segment_count(body) <= 3


def test_sender_needs_a_from_number_or_a_messaging_service() -> None:
    with pytest.raises(ValueError):
        TwilioSender("AC" + "1" * 32, "token")


@pytest.mark.asyncio
async def test_a_long_answer_goes_in_parts_each_on_suite_then_nothing_more() -> None:
    h = Harness()
    await h.identities.remember(SENDER_ID, NUMBER)
    await h.output.send_text_with_buttons(SENDER_ID, "Votre demande avance bien. " * 30, BUTTONS)
    [first] = h.http.bodies()
    assert first.endswith("(suite : envoyez SUITE)") and segment_count(first) <= 3
    assert (await h.offers.recall(SENDER_ID)).menu == []  # type: ignore[union-attr]  # no menu shown yet

    while await h.output.deliver_next(SENDER_ID):
        pass
    bodies = h.http.bodies()
    assert len(bodies) >= 2 and bodies[-1].endswith("Répondez 1 ou 2.")
    assert [b.title for b in (await h.offers.recall(SENDER_ID)).menu] == ["Oui", "Non"]  # type: ignore[union-attr]
    assert await h.output.deliver_next(SENDER_ID) is False  # nothing left
