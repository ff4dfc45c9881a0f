"""The configurations the benchmark measures, each started as a real deployment would be, on free localhost ports.

- embedded: `python -m bot run` with the SQLite default (what `make run` starts);
- production: the same command with DATABASE_URL (a throw-away PostgreSQL database), REDIS_URL and RASA_WORKERS;
- either of them with RASA_SPEEDUPS=off (the speed-ups-off floor): the same command, an environment that differs
  only by that variable;
- plain: Rasa's own `rasa run` on the same model with only the REST channel, no tracker store and no action server
  (the plain floor of the REST channel), whose HTTP API also gives the `/model/parse` floor.

What each floor is, and where it is measured, is written in bench/floors.py.
"""

from __future__ import annotations

import os
import re
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

from bench.floors import PLAIN as PLAIN_NAME
from bot.settings import ROOT

TOKEN = "bench-token"
TWILIO_AUTH_TOKEN = "bench-twilio-auth-token"  # the phone channel's requests are signed with it (no Twilio account)
READY_TIMEOUT_SECONDS = 300
POSTGRES_SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SPEEDUPS_SWITCH = "RASA_SPEEDUPS"
SPEEDUPS_OFF_LOG = "speed-ups off"  # what the rasa server logs at start when RASA_SPEEDUPS=off
WARNING = "warning: "  # a server note that the report's notes repeat


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
    return label_of(" ".join(a.decode(errors="replace") for a in argv if a))


def label_of(command_line: str) -> str:
    """A short name for a process of a measured configuration, from its command line."""
    for needle, name in (("rasa_sdk", "action server"), ("bot.runtime.actions", "action server"),
                         ("rasa run", "rasa server"), ("bot.runtime.server", "rasa server"), ("bot console", "console"),
                         ("bot run", "supervisor (bot run)")):  # fmt: skip
        if needle in command_line:
            return name
    return command_line[:40]


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


BENCH_RATE_LIMIT_PER_MINUTE = 1_000_000


def _environment(**values: str | None) -> dict[str, str]:
    env = dict(
        os.environ, RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2", SQLALCHEMY_SILENCE_UBER_WARNING="1"
    )
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    for key in ("DATABASE_URL", "REDIS_URL", "RASA_WORKERS", "SANIC_WORKERS", SPEEDUPS_SWITCH):
        env.pop(key, None)  # each configuration says what it runs with; the bench's own shell does not choose
    # Every simulated citizen comes from 127.0.0.1, and the web chat limits messages per client address: a town's
    # limit would throttle the whole load test as one citizen.
    env["RATE_LIMIT_PER_MINUTE"] = str(BENCH_RATE_LIMIT_PER_MINUTE)
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


def slug(name: str) -> str:
    """A configuration's name as a file name: `production (speed-ups off)` -> `production-speed-ups-off`."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def log_path(logs: Path, name: str) -> Path:
    """Where a configuration's output goes."""
    return logs / f"{slug(name)}.log"


@contextmanager
def running(name: str, command: list[str], env: dict[str, str], url: str, logs: Path) -> Iterator[Server]:
    """Start a command, wait until it answers, measure memory while it runs, stop it (the whole group) at the end."""
    logs.mkdir(parents=True, exist_ok=True)
    log = log_path(logs, name)
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


@dataclass(frozen=True)
class Ports:
    """The ports of one Guichet configuration."""

    rasa: int
    action: int
    console: int

    @classmethod
    def free(cls) -> Ports:
        """Three ports nobody listens on right now."""
        return cls(free_port(), free_port(), free_port())


def guichet_command() -> list[str]:
    """The command of every Guichet configuration, speed-ups on or off: `python -m bot run`."""
    return [sys.executable, "-m", "bot", "run"]


def guichet_environment(var: str, ports: Ports, *, database_url: str | None = None, redis_url: str | None = None,
                        workers: int = 1, speedups: bool = True) -> dict[str, str]:  # fmt: skip
    """The environment of `python -m bot run` for one configuration; speedups=False changes RASA_SPEEDUPS only."""
    return _environment(VAR_DIR=var, RASA_PORT=str(ports.rasa), ACTION_PORT=str(ports.action),
                        CONSOLE_PORT=str(ports.console), RASA_TOKEN=TOKEN, DATABASE_URL=database_url,
                        REDIS_URL=redis_url, RASA_WORKERS=str(workers), TWILIO_AUTH_TOKEN=TWILIO_AUTH_TOKEN,
                        PUBLIC_URL=f"http://127.0.0.1:{ports.rasa}",
                        **{SPEEDUPS_SWITCH: "on" if speedups else "off"})  # fmt: skip


def speedups_mismatch(log: str, speedups: bool) -> str | None:
    """Why a start-up log contradicts the speed-ups asked for (None when it agrees).

    The rasa server logs "speed-ups off" when RASA_SPEEDUPS=off, and also when it refuses to patch a Rasa version
    the speed-ups were not written for (a warning): Guichet measured that way would be a floor under Guichet's name.
    """
    says_off = SPEEDUPS_OFF_LOG in log.lower()
    if speedups and says_off:
        return f"started with {SPEEDUPS_SWITCH}=on, but its log says “{SPEEDUPS_OFF_LOG}”"
    if not speedups and not says_off:
        return f"started with {SPEEDUPS_SWITCH}=off, but its log does not say “{SPEEDUPS_OFF_LOG}”"
    return None


@contextmanager
def guichet(name: str, logs: Path, *, database_url: str | None = None, redis_url: str | None = None,
            workers: int = 1, speedups: bool = True) -> Iterator[Server]:  # fmt: skip
    """`python -m bot run` (rasa server, action server, console) on free ports with a throw-away var/ directory.

    With speedups=False it is the speed-ups-off floor: the same command and environment but RASA_SPEEDUPS=off.
    """
    ports = Ports.free()
    with tempfile.TemporaryDirectory(prefix=f"bench-{slug(name)}-") as var:
        env = guichet_environment(var, ports, database_url=database_url, redis_url=redis_url, workers=workers,
                                  speedups=speedups)  # fmt: skip
        with running(name, guichet_command(), env, f"http://127.0.0.1:{ports.rasa}", logs) as server:
            server.notes.append(f"{SPEEDUPS_SWITCH}={'on' if speedups else 'off'}")
            problem = speedups_mismatch(server.log.read_text(errors="replace") if server.log else "", speedups)
            if problem and speedups:  # Guichet's figures would be a floor's
                raise RuntimeError(problem)
            if problem:  # the environment did say off; a missing log line is reported, not fatal
                server.notes.append(f"{WARNING}{problem}")
            yield server


def plain_rasa_command(model: Path, credentials: Path, port: int) -> list[str]:
    """Rasa's own `rasa run` on the model: REST channel only (credentials), empty endpoints, the HTTP API on.

    The endpoints file sits beside the credentials and is empty: without `--endpoints`, Rasa reads the repository's
    endpoints.yml (our stores, our response generator, the action server), which is not plain Rasa.
    """
    endpoints = credentials.with_name("endpoints.yml")
    return [sys.executable, "-m", "rasa", "run", "--model", str(model), "--credentials", str(credentials),
            "--endpoints", str(endpoints), "--interface", "127.0.0.1", "--port", str(port), "--enable-api",
            "--auth-token", TOKEN]  # fmt: skip


def plain_rasa_environment() -> dict[str, str]:
    """The plain floor's environment: no database, Redis or workers of ours, and RASA_SPEEDUPS=off."""
    return _environment(**{SPEEDUPS_SWITCH: "off"})


@contextmanager
def plain_rasa(model: Path, logs: Path) -> Iterator[Server]:
    """A plain `rasa run` on the same model: REST channel only, in-memory tracker, no action server."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-plain-") as tmp:
        credentials = Path(tmp) / "credentials.yml"
        credentials.write_text("rest:\n")
        credentials.with_name("endpoints.yml").write_text("# plain Rasa: default stores, no action server\n")
        with running(PLAIN_NAME, plain_rasa_command(model, credentials, port), plain_rasa_environment(),
                     f"http://127.0.0.1:{port}", logs) as server:  # fmt: skip
            server.notes.append("Rasa's own command; custom actions are not run (no action server)")
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
