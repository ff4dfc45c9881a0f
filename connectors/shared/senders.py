"""Who is speaking: the sender-id prefix each channel stores its conversations under, and the client's address.

A conversation's sender id says which channel it belongs to (`telegram:123`, `sms:<pseudonym>`, `webchat:<session>`,
`voice:…`, `rest:…`); erasure, notifications and the console's channel filter rely on it. A channel that lets its
caller choose the sender (REST) must therefore never accept another channel's prefix.
"""

from __future__ import annotations

from bot.town.privacy.pseudonyms import SMS_PREFIX

TELEGRAM_PREFIX = "telegram:"
WEBCHAT_PREFIX = "webchat:"
VOICE_PREFIX = "voice:"
REST_PREFIX = "rest:"
# The prefixes of the channels whose identity is proven by the channel itself (signature, secret, socket session).
PROVEN_CHANNEL_PREFIXES = (TELEGRAM_PREFIX, SMS_PREFIX, WEBCHAT_PREFIX, VOICE_PREFIX)


def claims_proven_channel(sender: str) -> bool:
    """Whether a caller-chosen sender names a conversation of another channel (case and spaces ignored)."""
    return sender.strip().lower().startswith(PROVEN_CHANNEL_PREFIXES)


def client_address(peer: str, forwarded_for: str | None, proxies_count: int) -> str:
    """The client's address: the `proxies_count`-th `X-Forwarded-For` hop from the right, else the socket's peer.

    Only the hops appended by our own proxies can be trusted (a client may send any `X-Forwarded-For`), so with
    `proxies_count` 0 (no proxy) or a header shorter than the proxy chain, the peer address is the answer.
    """
    if proxies_count <= 0 or not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    return hops[-proxies_count] if len(hops) >= proxies_count else peer
