"""`python -m bot set-webhooks` reaches every declared channel through credentials.yml."""

from __future__ import annotations

from pathlib import Path

from bot.runtime.channels import declared_channels, register_webhooks
from bot.settings import Settings


class FakeChannel:
    """A channel that records the settings it registered its webhook with."""

    registered: list[str] = []

    @classmethod
    def name(cls) -> str:
        return "fake"

    @classmethod
    async def register_webhook(cls, settings: Settings) -> str | None:
        cls.registered.append(settings.public_url)
        return settings.public_url + "/webhooks/fake/webhook"


class ChannelWithoutWebhook:
    @classmethod
    def name(cls) -> str:
        return "plain"


async def test_webhooks_are_registered_for_channels_that_have_one(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials.yml"
    credentials.write_text(
        "rest:\ntests.unit.runtime.test_channels.FakeChannel:\ntests.unit.runtime.test_channels.ChannelWithoutWebhook:\n"
    )
    settings = Settings(public_url="https://guichet.example", _env_file=None)
    assert declared_channels(credentials) == [
        "rest",
        "tests.unit.runtime.test_channels.FakeChannel",
        "tests.unit.runtime.test_channels.ChannelWithoutWebhook",
    ]
    assert await register_webhooks(settings, credentials) == {"fake": "https://guichet.example/webhooks/fake/webhook"}
    assert FakeChannel.registered == ["https://guichet.example"]
