"""The TwiML of the phone channel, built with twilio's `VoiceResponse` (never by string concatenation)."""

from __future__ import annotations

from dataclasses import dataclass

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

LANGUAGE = "fr-FR"


@dataclass(frozen=True)
class Voice:
    """How the assistant speaks: Twilio's text-to-speech voice and language."""

    name: str = "Polly.Lea"
    language: str = LANGUAGE


def gather(sayings: list[str], action_url: str, voice: Voice) -> str:
    """Say the answer, then listen for speech or one keypad digit; an empty result also comes back to `action_url`."""
    response = VoiceResponse()
    listen = Gather(
        input="speech dtmf",
        language=voice.language,
        action=action_url,
        method="POST",
        speech_timeout="auto",
        num_digits=1,
        action_on_empty_result=True,
    )
    for text in sayings:
        listen.say(text, voice=voice.name, language=voice.language)
    response.append(listen)
    return str(response)


def dial(sayings: list[str], number: str, whisper_url: str, after_url: str, voice: Voice) -> str:
    """Say the answer, then transfer the call; the agent first hears the TwiML of `whisper_url` (the topic), and
    Twilio asks `after_url` what to do once the transfer ends (answered, busy, no answer)."""
    response = VoiceResponse()
    for text in sayings:
        response.say(text, voice=voice.name, language=voice.language)
    transfer = Dial(action=after_url, method="POST")
    transfer.number(number, url=whisper_url, method="POST")
    response.append(transfer)
    return str(response)


def say_and_hang_up(sayings: list[str], voice: Voice) -> str:
    """Say the answer and end the call."""
    response = VoiceResponse()
    for text in sayings:
        response.say(text, voice=voice.name, language=voice.language)
    response.hangup()
    return str(response)


def say_only(sayings: list[str], voice: Voice) -> str:
    """Say something and return (a whisper to the agent: the call is then connected)."""
    response = VoiceResponse()
    for text in sayings:
        response.say(text, voice=voice.name, language=voice.language)
    return str(response)


def empty() -> str:
    """Nothing to do (status callbacks)."""
    return str(VoiceResponse())
