"""A running Guichet for the end-to-end suites: the processes of `make run`, started one by one so a test can kill one.

Every channel is on (Telegram and Twilio secrets set, their APIs unreachable from here, so answers on those
channels fail to go out while the messages are still handled and stored).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bot.runtime.processes import Child, child_environment, children, wait_ready
from bot.settings import ROOT, Settings, get_settings
from connectors.rest import conversation_id
from connectors.shared.senders import PROVEN_CHANNEL_PREFIXES, REST_PREFIX
from tests.conftest import free_port

TOKEN = "e2e-token"
TWILIO_AUTH_TOKEN = "e2e-twilio-auth-token"
TELEGRAM_SECRET = "e2e-telegram-secret"
PUBLIC_URL = "https://guichet.pau.example"
READY_SECONDS = 900  # a busy machine loads the model slowly


@dataclass
class Stack:
    """The action server, rasa server and console of one test module, with their logs."""

    var: Path
    env: dict[str, str]
    settings: Settings
    children: dict[str, Child] = field(default_factory=dict)

    @property
    def rasa_url(self) -> str:
        return self.settings.rasa_url

    def start(self, name: str) -> None:
        """Start one process (again) and wait until it answers."""
        child = self.children[name]
        log = (self.var / f"{name.replace(' ', '_')}.log").open("ab")
        child.process = subprocess.Popen(child.command, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        if not wait_ready(child, time.monotonic() + READY_SECONDS):
            raise RuntimeError(f"the {name} did not start:\n{self.log(name)[-3000:]}")

    def kill(self, name: str) -> None:
        """Kill one process at once (SIGKILL), as a crash would."""
        process = self.children[name].process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=30)

    def pause(self, name: str, paused: bool) -> None:
        """Freeze (SIGSTOP) or thaw (SIGCONT) one process: it accepts connections but never answers."""
        process = self.children[name].process
        assert process is not None
        process.send_signal(signal.SIGSTOP if paused else signal.SIGCONT)

    def stop_all(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL)."""
        for child in self.children.values():
            if child.process is not None and child.process.poll() is None:
                child.process.send_signal(signal.SIGCONT)
                child.process.terminate()
        for child in self.children.values():
            if child.process is not None:
                try:
                    child.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.process.kill()

    def log(self, name: str) -> str:
        """What a process printed so far."""
        path = self.var / f"{name.replace(' ', '_')}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def say(self, sender: str, message: Any, timeout: float = 60) -> httpx.Response:
        """POST a REST message (any JSON value as the message)."""
        return httpx.post(f"{self.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": message},
                          timeout=timeout)  # fmt: skip

    def engine(self) -> sa.engine.Engine:
        """An engine on the stack's database."""
        return sa.create_engine(self.settings.effective_database_url, future=True)

    def stored_events(self, sender_id: str) -> list[dict[str, Any]]:
        """The stored events of a conversation, oldest first (a REST sender as `say` named it, or a stored id)."""
        engine = self.engine()
        try:
            with engine.connect() as conn:
                if "events" not in sa.inspect(conn).get_table_names():
                    return []
                rows = conn.execute(sa.text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"),
                                    {"s": stored_sender_id(sender_id)})  # fmt: skip
                return [json.loads(data) for (data,) in rows]
        finally:
            engine.dispose()

    def user_texts(self, sender_id: str) -> list[str]:
        """What the citizen wrote, as stored."""
        return [e.get("text") or "" for e in self.stored_events(sender_id) if e.get("event") == "user"]


def stored_sender_id(sender: str) -> str:
    """The id a conversation is stored under: other channels' ids as they are, a REST sender with the REST prefix."""
    return sender if sender.startswith((*PROVEN_CHANNEL_PREFIXES, REST_PREFIX)) else conversation_id(sender)


def start_stack(var: Path, *, database_url: str | None = None, console: bool = True, **extra: str) -> Stack:
    """Start Guichet's processes on free ports with every channel's secrets set."""
    fields = {
        "VAR_DIR": str(var), "RASA_PORT": str(free_port()), "ACTION_PORT": str(free_port()),
        "CONSOLE_PORT": str(free_port()), "RASA_TOKEN": TOKEN, "MODELS_DIR": str(get_settings().models_dir),
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": "+33536490000", "TELEGRAM_TOKEN": "123456789:AAE2eTestTokenForGuichetPau00000000",
        "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET, "PUBLIC_URL": PUBLIC_URL, "IDENTITY_SECRET": "e2e-identity",
        # The web chat counts messages per client address: the suites' many citizens all come from 127.0.0.1.
        "RATE_LIMIT_PER_MINUTE": "600",
        **extra,
    }  # fmt: skip
    if database_url:
        fields["DATABASE_URL"] = database_url
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in fields.items() if k.lower() in Settings.__fields__})
    env = {k: v for k, v in child_environment(settings, TOKEN).items() if k != "DATABASE_URL"} | fields
    stack = Stack(var, env, settings, {c.name: c for c in children(settings)})
    if not console:
        del stack.children["console"]
    try:
        for name in stack.children:
            stack.start(name)
    except Exception:
        stack.stop_all()
        raise
    return stack


@pytest.fixture(scope="session")
def sqlite_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One Guichet on the embedded SQLite database, shared by the modules that do not break it."""
    running = start_stack(tmp_path_factory.mktemp("guichet"), console=False)
    yield running
    running.stop_all()
