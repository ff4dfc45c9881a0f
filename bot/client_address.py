"""The client's address behind the town's reverse proxies: one rule for the console and every channel.

Rate limits, lock-outs and logs count per client address; behind a proxy the socket's peer is the proxy, so the
address is read from `X-Forwarded-For` — but only the hops our own proxies appended can be trusted (a client may send
any header), hence PROXIES_COUNT.
"""

from __future__ import annotations


def client_address(peer: str, forwarded_for: str | None, proxies_count: int) -> str:
    """The client's address: the `proxies_count`-th `X-Forwarded-For` hop from the right, else the socket's peer.

    With `proxies_count` 0 (no proxy) or a header shorter than the proxy chain, the peer address is the answer.
    """
    if proxies_count <= 0 or not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    return hops[-proxies_count] if len(hops) >= proxies_count else peer
