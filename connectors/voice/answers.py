"""The assistant's answer to one turn of a call: collected under the channel name `voice` (so Rasa picks the
`channel: voice` variants), then read for the ear, with what its custom messages ask of the call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel

from connectors.shared.notices import Notices
from connectors.shared.offers import Button, buttons_from_rasa
from connectors.voice.speech import MAX_SPOKEN_CHOICES, for_the_ear, number_words

# What an answer's custom message asks of the call (domain.yml voice variants, actions/handoff.py).
CONTROL_KEY = "voice"
TRANSFER, HANG_UP, MISUNDERSTOOD, OFFER_SMS = "transfer", "hangup", "misunderstood", "offer_sms"


class VoiceCollector(CollectingOutputChannel):
    """Collects one turn's answer; named `voice` so the `channel: voice` response variants are chosen."""

    def __init__(self) -> None:
        super().__init__()
        self.menu: list[Button] = []  # the choices of the turn's last menu: digits and titles pick from it

    @classmethod
    def name(cls) -> str:
        """The channel name of response variants and of the conversation's output channel."""
        return "voice"

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        """Keep the choices (a link is no choice on the phone), then collect the message."""
        self.menu = buttons_from_rasa([b for b in buttons if not b.get("url")])[:MAX_SPOKEN_CHOICES]
        await super().send_text_with_buttons(recipient_id, text, buttons, **kwargs)


@dataclass
class Spoken:
    """A turn's answer as the call will render it."""

    sayings: list[str] = field(default_factory=list)
    transfer_topic: str | None = None
    transfer: bool = False
    hang_up: bool = False
    misunderstood: bool = False
    reference: str | None = None  # a report's reference the caller may also get by SMS


def spoken_answer(messages: list[dict[str, Any]], notices: Notices) -> Spoken:
    """The assistant's messages as sentences for the ear, with what they ask of the call (transfer, hang up)."""
    spoken = Spoken()
    for message in messages:
        if message.get("text"):
            spoken.sayings.append(for_the_ear(str(message["text"])))
        choices = buttons_from_rasa([b for b in message.get("buttons") or [] if not b.get("url")])
        if choices:
            spoken.sayings.append(spoken_menu(choices, notices))
        custom = message.get("custom")
        if isinstance(custom, dict):
            control = custom.get(CONTROL_KEY)
            if control == TRANSFER:
                spoken.transfer, spoken.transfer_topic = True, str(custom.get("topic") or "").strip() or None
            elif control == HANG_UP:
                spoken.hang_up = True
            elif control == MISUNDERSTOOD:
                spoken.misunderstood = True
            elif control == OFFER_SMS and custom.get("ticket_ref"):
                spoken.reference = str(custom["ticket_ref"])
    spoken.sayings = [s for s in spoken.sayings if s.strip()]
    return spoken


def spoken_menu(choices: list[Button], notices: Notices) -> str:
    """« Pour Horaires, tapez un. Pour Adresse, tapez deux. Vous pouvez aussi dire votre choix. »"""
    lines = [
        notices.render("voice_menu_choice", title=button.title, digit=number_words(index))
        for index, button in enumerate(choices[:MAX_SPOKEN_CHOICES], start=1)
    ]
    return " ".join([*lines, notices.voice_menu_prompt])
