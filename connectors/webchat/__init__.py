"""Web chat channel: Rasa's socket.io protocol for the town's widget and rasa-webchat, with photo upload."""

from connectors.webchat.channel import WebChatInput
from connectors.webchat.output import WebChatOutput
from connectors.webchat.photos import PhotoStore

__all__ = ["PhotoStore", "WebChatInput", "WebChatOutput"]
