"""Who is speaking: the sender-id prefix each channel stores its conversations under.

A conversation's sender id says which channel it belongs to (`telegram:123`, `sms:<pseudonym>`, `webchat:<session>`,
`voice:…`, `rest:…`); erasure, notifications and the console's channel filter rely on it. A channel that lets its
caller choose the sender (REST) must therefore never accept another channel's prefix.
"""

from __future__ import annotations

from bot.town.privacy.pseudonyms import SMS_PREFIX, VOICE_PREFIX

TELEGRAM_PREFIX = "telegram:"
WEBCHAT_PREFIX = "webchat:"
REST_PREFIX = "rest:"
# The prefixes of the channels whose identity is proven by the channel itself (signature, secret, socket session).
PROVEN_CHANNEL_PREFIXES = (TELEGRAM_PREFIX, SMS_PREFIX, WEBCHAT_PREFIX, VOICE_PREFIX)


def claims_proven_channel(sender: str) -> bool:
    """Whether a caller-chosen sender names a conversation of another channel (case and spaces ignored)."""
    return sender.strip().lower().startswith(PROVEN_CHANNEL_PREFIXES)
