"""`python -m bot run`: starts the action server, the rasa server (and the console) and supervises them.

Ctrl-C (or SIGTERM) stops every child cleanly; if one child dies, the others are stopped too, so the town never
runs half an assistant without noticing.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.runtime.train import model_path
from bot.settings import ROOT, Settings

STOP_GRACE_SECONDS = 15
READY_TIMEOUT_SECONDS = 300


@dataclass
class Child:
    """A process Guichet runs, with the URL that answers once it is ready."""

    name: str
    command: list[str]
    ready_url: str
    env: dict[str, str] = field(default_factory=dict)  # on top of child_environment()
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)


def rasa_token(settings: Settings) -> str:
    """RASA_TOKEN, or a random token generated once and kept under var/ (readable by its owner only)."""
    if settings.rasa_token:
        return settings.rasa_token
    path = settings.var_dir / "rasa_token"
    if not path.exists():
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def child_environment(settings: Settings, token: str) -> dict[str, str]:
    """The environment every child runs with."""
    env = dict(os.environ)
    env.update(
        ACTION_HOST=settings.action_host,
        ACTION_PORT=str(settings.action_port),
        SANIC_HOST=settings.action_host,  # rasa-sdk binds to SANIC_HOST (0.0.0.0 otherwise)
        RASA_TOKEN=token,
        RASA_TELEMETRY_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="2",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    return env


def children(settings: Settings, token: str) -> list[Child]:
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
        "--enable-api",
        "--auth-token",
        token,
    ]
    result = [
        Child(
            "action server",
            [python, "-m", "rasa_sdk", "--actions", "actions", "--port", str(settings.action_port)],
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


def _interrupt(signum: int, frame: object) -> None:
    """Treat SIGTERM like Ctrl-C, so children are stopped the same way."""
    raise KeyboardInterrupt


def run(settings: Settings) -> int:
    """Start every process, print where to go, and supervise until Ctrl-C or a child dies."""
    if not model_path(settings.models_dir).exists():
        print("No trained model: run `make train` (or `make run`, which trains when needed).", file=sys.stderr)
        return 2
    problem = configuration_problem(settings)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    token = rasa_token(settings)
    env = child_environment(settings, token)
    procs = children(settings, token)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        for child in procs:
            child.process = subprocess.Popen(child.command, env={**env, **child.env}, cwd=ROOT)  # noqa: S603 - fixed command
        for child in procs:
            if not wait_ready(child, deadline):
                print(f"The {child.name} did not start; see its output above.", file=sys.stderr)
                return 1
        print_where_to_go(settings, token_file=None if settings.rasa_token else settings.var_dir / "rasa_token")
        while True:
            for child in procs:
                code = child.process.poll()  # type: ignore[union-attr]
                if code is not None:
                    print(f"The {child.name} stopped (exit code {code}); stopping the others.", file=sys.stderr)
                    return code or 1
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
