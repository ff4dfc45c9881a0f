"""`python -m bot run`: starts the action server, the rasa server (and the console) and supervises them.

Ctrl-C (or SIGTERM) stops every child cleanly. A child that dies is started again, after a pause that doubles with
each crash in a row (up to MAX_RESTART_DELAY_SECONDS), while the others keep serving: a dead action server leaves
the rasa server answering « service momentanément indisponible » until it is back, instead of leaving citizens with
no answer at all. Every crash and restart is logged and counted; a child that keeps crashing is reported loudly
and still retried, so a town whose database comes back is served again without anyone typing a command.

No secret is put on a child's command line (which any local user can read in `ps`): the rasa server and the action
server read theirs from the environment.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.runtime.tokens import action_server_token, rasa_token
from bot.runtime.train import model_path
from bot.settings import ROOT, Settings

logger = logging.getLogger("bot.runtime.processes")

STOP_GRACE_SECONDS = 15
READY_TIMEOUT_SECONDS = 300
FIRST_RESTART_DELAY_SECONDS = 1.0
MAX_RESTART_DELAY_SECONDS = 60.0
STABLE_SECONDS = 120.0  # a child that ran this long before dying starts its count of crashes in a row afresh
CRASH_LOOP = 5  # crashes in a row from which a child is reported as crashing in a loop


@dataclass
class Child:
    """A process Guichet runs, with the URL that answers once it is ready."""

    name: str
    command: list[str]
    ready_url: str
    env: dict[str, str] = field(default_factory=dict)  # on top of child_environment()
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started_at: float = 0.0  # time.monotonic() of the latest start
    restarts: int = 0
    crashes_in_a_row: int = 0
    restart_at: float | None = None  # when a crashed child is due to start again


def child_environment(settings: Settings, token: str) -> dict[str, str]:
    """The environment every child runs with, the shared secrets included (never their command lines)."""
    env = dict(os.environ)
    env.update(
        ACTION_HOST=settings.action_host,
        ACTION_PORT=str(settings.action_port),
        SANIC_HOST=settings.action_host,  # rasa-sdk binds to SANIC_HOST (0.0.0.0 otherwise)
        RASA_TOKEN=token,
        ACTION_SERVER_TOKEN=action_server_token(settings),
        RASA_TELEMETRY_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="2",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    return env


def children(settings: Settings) -> list[Child]:
    """The processes of the embedded default, in start order."""
    python = sys.executable
    action_url = f"http://{settings.action_host}:{settings.action_port}/health"
    rasa = [
        python,
        "-m",
        "bot.runtime.server",
        "run",  # `rasa run` with honest failures
        "--model",
        str(model_path(settings.models_dir)),
        "--endpoints",
        str(ROOT / "endpoints.yml"),
        "--credentials",
        str(ROOT / "credentials.yml"),
        "--interface",
        settings.rasa_host,
        "--port",
        str(settings.rasa_port),
        "--enable-api",  # with RASA_TOKEN from the environment (bot/runtime/server.py)
    ]
    result = [
        Child(
            "action server",
            [python, "-m", "bot.runtime.actions", "--actions", "actions", "--port", str(settings.action_port)],
            action_url,
        ),
        Child("rasa server", rasa, f"{settings.rasa_url}/", env=rasa_environment(settings)),
        Child(
            "console",
            [python, "-m", "bot", "console"],
            f"http://{settings.console_host}:{settings.console_port}/open311/v2/services.json",
        ),
    ]
    return result


def rasa_environment(settings: Settings) -> dict[str, str]:
    """What the rasa server needs on top of the common environment: its number of Sanic workers (RASA_WORKERS).

    Rasa's own scale-out model: the workers share one port and load the model each; Rasa allows more than one only
    with a shared lock store, which GuichetLockStore is when REDIS_URL is set.
    """
    env = {"SANIC_WORKERS": str(max(1, settings.rasa_workers))}
    # One message is a handful of tiny TensorFlow calls: thread pools cost more than they give, and several
    # workers on few cores would fight over them. Rasa reads these; an operator's own values win.
    for name in ("TF_INTER_OP_PARALLELISM_THREADS", "TF_INTRA_OP_PARALLELISM_THREADS"):
        env[name] = os.environ.get(name, "1")
    return env


def configuration_problem(settings: Settings) -> str | None:
    """Why these settings cannot run, if they cannot."""
    if settings.rasa_workers > 1 and not settings.redis_url:
        return (
            f"RASA_WORKERS={settings.rasa_workers} needs REDIS_URL: several rasa workers must share their "
            "conversation locks (and web chat sessions) through Redis."
        )
    return None


def catalog_problem(settings: Settings) -> str | None:
    """Why the catalog cannot be served (the message of `python -m bot catalog validate`); seeds an empty database."""
    from bot.town.catalog import store

    return store.catalog_problem(store.store_from_settings(settings), settings.town_data_dir)


def wait_ready(child: Child, deadline: float) -> bool:
    """Poll the child's ready URL until it answers or the child dies or time runs out."""
    while time.monotonic() < deadline:
        if child.process is not None and child.process.poll() is not None:
            return False
        try:
            if httpx.get(child.ready_url, timeout=2).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def stop(all_children: list[Child]) -> None:
    """Terminate every running child, then kill those that do not stop in time."""
    running = [c for c in all_children if c.process is not None and c.process.poll() is None]
    for child in running:
        child.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in running:
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))  # type: ignore[union-attr]
        except subprocess.TimeoutExpired:
            child.process.kill()  # type: ignore[union-attr]


def restart_delay(crashes_in_a_row: int) -> float:
    """The pause before starting a child again: doubling with each crash in a row, bounded."""
    return min(MAX_RESTART_DELAY_SECONDS, FIRST_RESTART_DELAY_SECONDS * 2 ** max(0, crashes_in_a_row - 1))


class Supervisor:
    """Keeps the children running: a child that died is started again after its restart delay, the others untouched.

    `launch` starts a child (sets its process); `clock` is time.monotonic. `watch_once` never blocks, so a crash
    of one child never delays noticing another's.
    """

    def __init__(
        self, children: list[Child], launch: Callable[[Child], None], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.children = children
        self._launch = launch
        self._clock = clock

    def start(self, child: Child) -> None:
        """Start (or start again) one child now."""
        child.started_at = self._clock()
        child.restart_at = None
        self._launch(child)

    def watch_once(self) -> None:
        """Notice the children that died since the last look; start again those whose delay is over."""
        now = self._clock()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    logger.warning("Starting the %s again (restart %d)", child.name, child.restarts)
                    self.start(child)
                continue
            code = child.process.poll() if child.process is not None else None
            if code is not None:
                self._crashed(child, code, now)

    def _crashed(self, child: Child, code: int, now: float) -> None:
        stable = now - child.started_at >= STABLE_SECONDS
        child.crashes_in_a_row = 1 if stable else child.crashes_in_a_row + 1
        delay = restart_delay(child.crashes_in_a_row)
        child.restart_at = now + delay
        if child.crashes_in_a_row >= CRASH_LOOP:
            logger.critical("The %s keeps crashing (%d times in a row, exit code %s); next try in %.0f s",
                            child.name, child.crashes_in_a_row, code, delay)  # fmt: skip
        else:
            logger.error("The %s stopped (exit code %s); the others keep serving; restart in %.0f s",
                         child.name, code, delay)  # fmt: skip


def _interrupt(signum: int, frame: object) -> None:
    """Treat SIGTERM like Ctrl-C, so children are stopped the same way."""
    raise KeyboardInterrupt


def run(settings: Settings) -> int:
    """Start every process, print where to go, and keep them running until Ctrl-C or SIGTERM."""
    if not model_path(settings.models_dir).exists():
        print("No trained model: run `make train` (or `make run`, which trains when needed).", file=sys.stderr)
        return 2
    problem = configuration_problem(settings) or catalog_problem(settings)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    token = rasa_token(settings)
    env = child_environment(settings, token)
    procs = children(settings)
    signal.signal(signal.SIGTERM, _interrupt)

    def launch(child: Child) -> None:
        child.process = subprocess.Popen(child.command, env={**env, **child.env}, cwd=ROOT)  # noqa: S603 - fixed command

    supervisor = Supervisor(procs, launch)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        for child in procs:
            supervisor.start(child)
        for child in procs:
            if not wait_ready(child, deadline):
                print(f"The {child.name} did not start; see its output above.", file=sys.stderr)
                return 1
        print_where_to_go(settings, token_file=None if settings.rasa_token else settings.var_dir / "rasa_token")
        while True:
            supervisor.watch_once()
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping Guichet…")
        return 0
    finally:
        stop(procs)


def print_where_to_go(settings: Settings, token_file: Path | None) -> None:
    """Tell the person who typed `make run` where everything is."""
    console = f"http://{settings.console_host}:{settings.console_port}"
    lines = [
        "",
        "Guichet is running (Ctrl-C stops everything):",
        f'  REST channel   POST {settings.rasa_url}/webhooks/rest/webhook  {{"sender": "moi", "message": "bonjour"}}',
        f"  web chat demo  {console}/",
        f"  staff console  {console}/login",
        f"  Open311 API    {console}/open311/v2/services.json",
        f"  rasa HTTP API  {settings.rasa_url}/  (token: {'RASA_TOKEN' if token_file is None else token_file})",
        f"  action server  http://{settings.action_host}:{settings.action_port}/health",
        f"  conversations  {settings.effective_database_url.split('@')[-1]}",
        f"  locks          {('Redis ' + settings.redis_url.split('@')[-1]) if settings.redis_url else 'in memory'}"
        f", {max(1, settings.rasa_workers)} rasa worker(s)",
        "",
    ]
    print("\n".join(lines), flush=True)
