"""End to end: a phone call on the real stack (rasa server, action server, trained model), signed like Twilio signs,
its TwiML parsed with ElementTree. The town's clock is a Tuesday morning (CLOCK_OVERRIDE): the town hall is open."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from bot.town.privacy.pseudonyms import sms_sender_id, voice_sender_id
from tests.e2e.guichet_stack import PUBLIC_URL, TWILIO_AUTH_TOKEN, Stack, start_stack

pytestmark = pytest.mark.model

PATH = "/webhooks/voice/webhook"
SWITCHBOARD = "+33559000000"
TUESDAY_MORNING = "2026-11-24T10:00:00"
SECRET = b"e2e-identity"  # IDENTITY_SECRET of the stack
FORM_ANSWERS = [  # (what the voice variant of the question says, what the caller answers)
    ("type de problème", "un nid de poule"),
    ("Où se trouve", "12 rue Serviez"),
    ("Décrivez", "un trou profond au milieu de la chaussée depuis une semaine"),
    ("photo", "non"),
    ("vous joindre", "non"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("voice"), console=False, VOICE_TRANSFER_NUMBER=SWITCHBOARD,
                          CLOCK_OVERRIDE=TUESDAY_MORNING)  # fmt: skip
    yield running
    running.stop_all()


class Call:
    """One phone call, turn by turn, as Twilio would post it."""

    def __init__(self, stack: Stack, number: str) -> None:
        self.stack, self.number = stack, number
        self.sid = "CA" + uuid.uuid4().hex
        self.turn = -1

    def post(self, params: dict[str, str], query: str = "", signature: str | None = "sign") -> httpx.Response:
        url = PUBLIC_URL + PATH + (f"?{query}" if query else "")
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signature == "sign":
            headers["X-Twilio-Signature"] = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(url, params)
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        target = self.stack.rasa_url + PATH + (f"?{query}" if query else "")
        return httpx.post(target, content=urlencode(params).encode(), headers=headers, timeout=90)

    def form(self, **extra: str) -> dict[str, str]:
        return {"CallSid": self.sid, "AccountSid": "AC" + "0" * 32, "From": self.number, "To": "+33536490000",
                "CallStatus": "in-progress", **extra}  # fmt: skip

    def say(self, speech: str | None = None, **extra: str) -> ET.Element:
        """The next turn (the first one starts the call); its TwiML."""
        self.turn += 1
        fields = {"SpeechResult": speech, "Confidence": "0.93", **extra} if speech is not None else extra
        response = self.post(self.form(**fields), query=f"turn={self.turn}" if self.turn else "")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/xml")
        return ET.fromstring(response.text)


def signed_post(stack: Stack, public: str, params: dict[str, str]) -> httpx.Response:
    """POST to one of the channel's public URLs as Twilio would (signed for that URL), on the local server."""
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(public, params)
    return httpx.post(stack.rasa_url + public[len(PUBLIC_URL) :], content=urlencode(params).encode(), timeout=60,
                      headers={"X-Twilio-Signature": signature,
                               "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip


def said(root: ET.Element) -> str:
    return " ".join(s.text or "" for s in root.iter("Say"))


def test_a_signed_call_start_gets_a_french_speech_gather(stack: Stack) -> None:
    root = Call(stack, "+33559010101").say()
    [gather] = root.findall("Gather")
    assert gather.attrib["input"] == "speech dtmf" and gather.attrib["language"] == "fr-FR"
    assert gather.attrib["action"] == PUBLIC_URL + PATH + "?turn=1"
    assert "Bonjour" in said(gather) and all(s.attrib["language"] == "fr-FR" for s in gather.iter("Say"))


def test_the_town_halls_hours_are_said_in_words_and_the_call_goes_on(stack: Stack) -> None:
    call = Call(stack, "+33559010102")
    call.say()
    root = call.say("quels sont les horaires de la mairie")
    assert "heures" in said(root) and "midi" in said(root) and not any(c.isdigit() for c in said(root))
    [gather] = root.findall("Gather")
    assert gather.attrib["action"].endswith("?turn=2")
    sender = voice_sender_id(SECRET, call.number)
    events = [e for e in stack.stored_events(sender) if e.get("event") == "user"]
    assert events[-1]["text"] == "quels sont les horaires de la mairie"
    assert events[-1]["metadata"]["speech_confidence"] == 0.93 and events[-1]["input_channel"] == "voice"


def test_a_forged_request_gets_403(stack: Stack) -> None:
    call = Call(stack, "+33559010103")
    forged = RequestValidator("not-the-token").compute_signature(PUBLIC_URL + PATH, call.form())
    assert call.post(call.form(), signature=forged).status_code == 403
    assert call.post(call.form(), signature=None).status_code == 403
    assert stack.stored_events(voice_sender_id(SECRET, call.number)) == []


def test_a_repeated_turn_is_answered_once_with_the_same_twiml(stack: Stack) -> None:
    call = Call(stack, "+33559010104")
    call.say()
    params = call.form(SpeechResult="où se trouve la piscine", Confidence="0.9")
    first, again = call.post(params, query="turn=1"), call.post(params, query="turn=1")
    assert first.status_code == again.status_code == 200 and first.text == again.text
    texts = stack.user_texts(voice_sender_id(SECRET, call.number))
    assert texts.count("où se trouve la piscine") == 1


def test_asking_for_someone_in_hours_dials_the_switchboard(stack: Stack) -> None:
    call = Call(stack, "+33559010105")
    call.say()
    call.say("je voudrais refaire ma carte d'identité")
    root = call.say("je veux parler à quelqu'un")
    [dial] = root.findall("Dial")
    [number] = dial.iter("Number")
    assert number.text == SWITCHBOARD and number.attrib["url"].startswith(PUBLIC_URL + "/webhooks/voice/whisper?")
    whisper = signed_post(stack, number.attrib["url"], {"CallSid": "CA" + uuid.uuid4().hex, "ParentCallSid": call.sid})
    assert whisper.status_code == 200 and "carte d'identité" in said(ET.fromstring(whisper.text))
    ended = signed_post(stack, dial.attrib["action"], call.form(DialCallStatus="no-answer"))
    assert ended.status_code == 200 and ET.fromstring(ended.text).findall("Hangup")
    assert "rappeler" in said(ET.fromstring(ended.text))


def test_a_report_by_phone_ends_with_the_reference_spoken_and_an_sms_queued_to_the_caller(stack: Stack) -> None:
    call = Call(stack, "+33612345601")
    call.say()
    asked = call.say("il y a un nid de poule énorme rue Serviez")
    for _ in range(6):  # the form asks what it still needs, in its order: answer each question as a caller would
        question = said(asked)
        if "Je l'envoie" in question:
            break
        answer = next((a for q, a in FORM_ANSWERS if q in question), None)
        assert answer is not None, question
        asked = call.say(answer)
    assert "Je l'envoie" in said(asked)
    created = call.say("oui")
    refs = [e.get("value") for e in stack.stored_events(voice_sender_id(SECRET, call.number))
            if e.get("event") == "slot" and e.get("name") == "ticket_ref" and e.get("value")]  # fmt: skip
    assert refs, said(created)
    spelled = ", ".join(refs[-1].split("-")[0])  # « P, A, U »
    assert said(created).count(spelled) == 2 and "SMS" in said(created)
    call.say("oui")
    engine = stack.engine()
    try:
        with engine.connect() as conn:
            jobs = conn.execute(sa.text("SELECT channel, recipient FROM outbox WHERE kind = 'ticket_update'")).all()
    finally:
        engine.dispose()
    assert ("sms", sms_sender_id(SECRET, call.number)) in [tuple(job) for job in jobs]
