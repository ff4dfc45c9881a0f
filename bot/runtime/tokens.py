"""The secrets Guichet's processes share: taken from the environment, or generated once under var/.

The embedded default needs no configuration, so each secret left unset is drawn at random the first time a process
asks for it and kept in a file of VAR_DIR readable by its owner only; every process on the machine then reads the
same value. Processes on several machines must be given the same secret through the environment.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from bot.settings import Settings

# The header the rasa server sends (endpoints.yml) and the action server checks (bot/runtime/actions.py).
ACTION_TOKEN_HEADER = "X-Guichet-Action-Token"  # noqa: S105 - a header name, not a secret


def generated_secret(var_dir: Path, filename: str) -> str:
    """The secret kept in var_dir/filename, drawn at random (owner-only file) when the file does not exist yet."""
    path = var_dir / filename
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def rasa_token(settings: Settings) -> str:
    """RASA_TOKEN, the token of the rasa server's HTTP API, or the one generated under var/."""
    return settings.rasa_token or generated_secret(settings.var_dir, "rasa_token")


def action_server_token(settings: Settings) -> str:
    """ACTION_SERVER_TOKEN, the secret the rasa server shows the action server, or the one generated under var/."""
    return settings.action_server_token or generated_secret(settings.var_dir, "action_server_token")
