"""Fixtures shared by every test layer."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator

import pytest

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")


@pytest.fixture(scope="session")
def event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for the whole session, so the trained model is loaded once and shared."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def free_port() -> int:
    """A TCP port nobody listens on right now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


KINDS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test carries its kind as a marker (`pytest -m unit`), from the folder the tree mirror puts it in."""
    for item in items:
        parts = item.path.relative_to(item.config.rootpath).parts
        if len(parts) > 1 and parts[0] == "tests" and parts[1] in KINDS:
            item.add_marker(getattr(pytest.mark, parts[1]))
