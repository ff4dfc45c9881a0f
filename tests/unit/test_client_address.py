"""The one rule for the client's address behind the town's proxies (console and channels alike)."""

from __future__ import annotations

import pytest

from bot.client_address import client_address


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "proxies", "expected"),
    [
        ("10.0.0.5", None, 1, "10.0.0.5"),  # no header: the peer
        ("10.0.0.5", "203.0.113.9", 0, "10.0.0.5"),  # no proxy configured: a client-sent header is ignored
        ("10.0.0.5", "203.0.113.9", 1, "203.0.113.9"),  # one proxy: the hop it appended
        ("10.0.0.5", "6.6.6.6, 203.0.113.9", 1, "203.0.113.9"),  # a forged hop on the left is not trusted
        ("10.0.0.5", "6.6.6.6, 203.0.113.9, 10.0.0.4", 2, "203.0.113.9"),  # two proxies: the second from the right
        ("10.0.0.5", "203.0.113.9", 2, "10.0.0.5"),  # shorter than the proxy chain: the peer
        ("10.0.0.5", " , ", 1, "10.0.0.5"),  # empty hops
    ],
)
def test_client_address_trusts_only_the_hops_of_our_own_proxies(
    peer: str, forwarded_for: str | None, proxies: int, expected: str
) -> None:
    assert client_address(peer, forwarded_for, proxies) == expected
