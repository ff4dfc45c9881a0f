"""The channels declared in credentials.yml, found the way Rasa finds them (by class path), not imported by name.

bot/ never imports connectors/: the command line reaches the channels through credentials.yml, so adding a channel
needs no change here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.settings import ROOT, Settings


def declared_channels(credentials: Path = ROOT / "credentials.yml") -> list[str]:
    """The input channels of credentials.yml, by name or class path."""
    data: dict[str, Any] = yaml.safe_load(credentials.read_text(encoding="utf-8")) or {}
    return list(data)


async def register_webhooks(settings: Settings, credentials: Path = ROOT / "credentials.yml") -> dict[str, str | None]:
    """Call `register_webhook(settings)` on every declared channel class that has one; map its name to the URL."""
    from rasa.shared.utils.common import class_from_module_path

    results: dict[str, str | None] = {}
    for path in declared_channels(credentials):
        if "." not in path:
            continue  # Rasa's built-in channels (rest, ...) have no webhook to register
        channel = class_from_module_path(path)
        register = getattr(channel, "register_webhook", None)
        if register is not None:
            results[channel.name()] = await register(settings)
    return results
