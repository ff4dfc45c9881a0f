"""What every console test needs: Sanic's test mode (several apps in one process) and cheap argon2 parameters."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sanic import Sanic

from bot.console import auth


@pytest.fixture(autouse=True)
def cheap_argon2_in_test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests check behaviour, not the cost of an attack; Sanic 21.12 runs several apps only in test mode."""
    monkeypatch.setattr(Sanic, "test_mode", True)
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setattr(auth, "_DUMMY_HASH", None)
