"""The configurations the benchmark measures, each started as a real deployment would be, on free localhost ports.

- embedded: `python -m bot run` with the SQLite default (what `make run` starts);
- production: the same command with DATABASE_URL (a throw-away PostgreSQL database), REDIS_URL and RASA_WORKERS;
- bare: a plain `rasa run` on the same model with only the REST channel, no tracker store and no action server
  (the floor of the REST channel), whose HTTP API also gives the `/model/parse` floor.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.settings import ROOT

TOKEN = "bench-token"
READY_TIMEOUT_SECONDS = 300
POSTGRES_SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    """A TCP port nobody listens on right now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A started configuration: where it answers and the process tree to measure."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    ready_seconds: float = 0.0
    log: Path | None = None
    memory: MemoryWatch | None = None
    notes: list[str] = field(default_factory=list)


# --- memory, from /proc (psutil is not installed) -------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MB (VmRSS), 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descendants(pid: int) -> list[int]:
    """The process and every process below it."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def label(pid: int) -> str:
    """A short name for a process of the tree, from its command line."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"pid {pid}"
    line = " ".join(a.decode(errors="replace") for a in argv if a)
    for needle, name in (("rasa_sdk", "action server"), ("rasa run", "rasa server"), ("bot.runtime.server", "rasa server"),
                         ("bot console", "console"),
                         ("bot run", "supervisor (bot run)")):  # fmt: skip
        if needle in line:
            return name
    return line[:40]


def memory_by_process(root: int) -> dict[str, float]:
    """RSS in MB of each process of the tree, labelled (forked Sanic workers get their own label)."""
    result: dict[str, float] = {}
    for pid in descendants(root):
        name = label(pid)
        ppid_label = label(_ppid(pid))
        if name == ppid_label == "rasa server":
            name = "rasa server worker"
        key, n = name, 2
        while key in result:
            key, n = f"{name} #{n}", n + 1
        result[key] = round(rss_mb(pid), 1)
    return result


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


class MemoryWatch:
    """Samples the memory of a process tree in the background and keeps each process's peak."""

    def __init__(self, root: int, interval: float = 0.5) -> None:
        self.root = root
        self.interval = interval
        self.peak: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> MemoryWatch:
        """Start sampling."""
        self._thread.start()
        return self

    def now(self) -> dict[str, float]:
        """Memory of each process right now."""
        return memory_by_process(self.root)

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for name, value in memory_by_process(self.root).items():
                self.peak[name] = max(value, self.peak.get(name, 0.0))


def cpu_probe_ms(rounds: int = 5) -> float:
    """Milliseconds a fixed single-threaded workload takes right now (best of `rounds`; lower is faster).

    These shared 2-core machines change speed from one minute to the next (the same code measured twice, minutes
    apart, has shown twice the latency). The probe, taken before each phase, says how fast the machine was while
    that phase ran, so figures from different phases or runs can be read side by side.
    """
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        total = 0
        for number in range(200_000):
            total += number * number % 7
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


# --- starting and stopping --------------------------------------------------------------------------------------


def _environment(**values: str | None) -> dict[str, str]:
    env = dict(
        os.environ, RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2", SQLALCHEMY_SILENCE_UBER_WARNING="1"
    )
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    for key in ("DATABASE_URL", "REDIS_URL", "RASA_WORKERS", "SANIC_WORKERS"):
        env.pop(key, None)
    env.update({k: v for k, v in values.items() if v is not None})
    return env


def wait_answering(url: str, process: subprocess.Popen[bytes], started: float, timeout: float) -> float:
    """Seconds from `started` until the server answers a citizen on the REST channel."""
    deadline = started + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped during start-up (exit code {process.returncode})")
        try:
            response = httpx.post(f"{url}/webhooks/rest/webhook", json={"sender": "bench-ready", "message": "bonjour"},
                                  timeout=5)  # fmt: skip
            if response.status_code == 200 and response.json():
                return time.monotonic() - started
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the server did not answer within {timeout:.0f} s")


@contextmanager
def running(name: str, command: list[str], env: dict[str, str], url: str, logs: Path) -> Iterator[Server]:
    """Start a command, wait until it answers, measure memory while it runs, stop it (the whole group) at the end."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,  # noqa: S603
                                   start_new_session=True)  # fmt: skip
    server = Server(name, url, process, log=log)
    try:
        server.ready_seconds = wait_answering(url, process, started, READY_TIMEOUT_SECONDS)
        server.memory = MemoryWatch(process.pid).start()
        yield server
    except RuntimeError as error:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{name}: {error}\n{tail}") from error
    finally:
        if server.memory:
            server.memory.stop()
        _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGINT to the process group (as Ctrl-C would), then SIGKILL to whatever is left of it.

    Sanic workers still loading the model ignore the signals their parent forwards, and a supervisor that exits
    first would leave them behind: the whole group goes.
    """
    group = process.pid
    try:
        os.killpg(group, signal.SIGINT)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


@contextmanager
def guichet(name: str, logs: Path, *, database_url: str | None = None, redis_url: str | None = None,
            workers: int = 1) -> Iterator[Server]:  # fmt: skip
    """`python -m bot run` (rasa server, action server, console) on free ports with a throw-away var/ directory."""
    rasa_port, action_port, console_port = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as var:
        env = _environment(VAR_DIR=var, RASA_PORT=str(rasa_port), ACTION_PORT=str(action_port),
                           CONSOLE_PORT=str(console_port), RASA_TOKEN=TOKEN, DATABASE_URL=database_url,
                           REDIS_URL=redis_url, RASA_WORKERS=str(workers))  # fmt: skip
        command = [sys.executable, "-m", "bot", "run"]
        with running(name, command, env, f"http://127.0.0.1:{rasa_port}", logs) as server:
            yield server


@contextmanager
def bare_rasa(model: Path, logs: Path) -> Iterator[Server]:
    """A plain `rasa run` on the same model: REST channel only, in-memory tracker, no action server."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-bare-") as tmp:
        credentials = Path(tmp) / "credentials.yml"
        credentials.write_text("rest:\n")
        command = [sys.executable, "-m", "rasa", "run", "--model", str(model), "--credentials", str(credentials),
                   "--interface", "127.0.0.1", "--port", str(port), "--enable-api", "--auth-token", TOKEN]  # fmt: skip
        with running("bare-rasa", command, _environment(), f"http://127.0.0.1:{port}", logs) as server:
            server.notes.append("custom actions are not run (no action server): the REST floor is NLU + dialogue")
            yield server


@contextmanager
def bench_database() -> Iterator[str]:
    """A fresh PostgreSQL database for the production setup, dropped afterwards."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from bot.db import create_engine_for

    admin = create_engine_for(POSTGRES_SERVER_URL).execution_options(isolation_level="AUTOCOMMIT")
    name = f"guichet_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_SERVER_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
