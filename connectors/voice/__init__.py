"""Phone channel through Twilio Voice: signed turns answered once, answers made for the ear, transfer in hours."""

from connectors.voice.channel import VoiceDeps, VoiceInput, VoiceWebhook
from connectors.voice.turns import MemoryTurnStore, SqlTurnStore

__all__ = ["MemoryTurnStore", "SqlTurnStore", "VoiceDeps", "VoiceInput", "VoiceWebhook"]
