"""Answers on the web chat: Rasa's socket.io output, remembering the buttons offered to each session."""

from __future__ import annotations

from typing import Any

from rasa.core.channels.socketio import SocketIOOutput
from socketio import AsyncServer

from connectors.shared.offers import OfferStore, buttons_from_rasa

CHANNEL_NAME = "webchat"


class WebChatOutput(SocketIOOutput):
    """Rasa's socket.io output, recording offered buttons and honouring the namespace."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    def __init__(
        self, sio: AsyncServer, bot_message_evt: str, offers: OfferStore, namespace: str | None = None
    ) -> None:
        super().__init__(sio, bot_message_evt)
        self.offers = offers
        self.namespace = namespace

    async def _send_message(self, socket_id: str, response: Any) -> None:
        await self.sio.emit(self.bot_message_evt, response, room=socket_id, namespace=self.namespace)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        """Send buttons as `quick_replies`, remembering their payloads as offered."""
        await self.offers.remember(recipient_id, buttons_from_rasa(buttons))
        await super().send_text_with_buttons(recipient_id, text, buttons, **kwargs)

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        """Send a custom payload as the bot message (Rasa spreads it into `emit` arguments, which breaks)."""
        await self._send_message(recipient_id, json_message)
