"""SMS senders are pseudonymous: the tracker sees "sms:<hash>", one table maps it back to the number."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from connectors.shared.channel_stores import open_channel_stores
from connectors.shared.identities import load_identity_secret, normalise_number, sms_sender_id

NUMBER = "+33536490012"  # fictional range


def test_sender_id_is_a_keyed_hash_without_the_number() -> None:
    sender_id = sms_sender_id(b"secret", NUMBER)
    assert sender_id.startswith("sms:") and len(sender_id) == 24
    assert "0536" not in sender_id and "536490012" not in sender_id
    assert sender_id == sms_sender_id(b"secret", "05 36 49 00 12")  # the same citizen however it is written
    assert sender_id != sms_sender_id(b"other secret", NUMBER)


@pytest.mark.parametrize(
    ("raw", "e164"), [("+33536490012", "+33536490012"), ("05 36 49 00 12", "+33536490012"), ("garbage", "garbage")]
)
def test_numbers_are_normalised_to_e164(raw: str, e164: str) -> None:
    assert normalise_number(raw) == e164


def test_identity_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = load_identity_secret(None, tmp_path)
    assert load_identity_secret(None, tmp_path) == first
    assert stat.S_IMODE((tmp_path / "identity_secret").stat().st_mode) == 0o600
    assert load_identity_secret("configured", tmp_path) == b"configured"


@pytest.mark.asyncio
async def test_identity_and_opt_out_are_stored_per_pseudonym(tmp_path: Path) -> None:
    stores = open_channel_stores(f"sqlite:///{tmp_path / 'channels.db'}")
    sender_id = sms_sender_id(b"k", NUMBER)
    await stores.identities.remember(sender_id, NUMBER)
    await stores.identities.remember(sender_id, NUMBER)
    assert await stores.identities.number_for(sender_id) == NUMBER
    assert await stores.identities.number_for("sms:unknown") is None
    assert await stores.optouts.is_opted_out(sender_id) is False
    await stores.optouts.set_opted_out(sender_id, True)
    assert await stores.optouts.is_opted_out(sender_id) is True
    await stores.optouts.set_opted_out(sender_id, False)
    assert await stores.optouts.is_opted_out(sender_id) is False
