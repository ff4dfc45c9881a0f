"""The floors: the speed-ups-off floor is Guichet with RASA_SPEEDUPS=off and nothing else; plain rasa run is Rasa's."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bench import floors, servers

FULL = (1, 4, 16, 32)
QUICK = (1, 4)
PORTS = servers.Ports(rasa=5005, action=5055, console=8080)


@pytest.mark.parametrize(
    "setup",
    [
        {},
        {
            "database_url": "postgresql://bench@127.0.0.1/guichet_bench",
            "redis_url": "redis://127.0.0.1/0",
            "workers": 2,
        },
    ],
    ids=["embedded", "production"],
)
def test_the_off_floor_differs_from_guichet_only_by_rasa_speedups_off(setup: dict[str, Any]) -> None:
    on = servers.guichet_environment("/tmp/var", PORTS, **setup)
    off = servers.guichet_environment("/tmp/var", PORTS, **setup, speedups=False)

    assert {key for key in on.keys() | off.keys() if on.get(key) != off.get(key)} == {"RASA_SPEEDUPS"}
    assert (on["RASA_SPEEDUPS"], off["RASA_SPEEDUPS"]) == ("on", "off")
    assert on["RASA_WORKERS"] == str(setup.get("workers", 1))
    assert on.get("DATABASE_URL") == setup.get("database_url")


def test_the_bench_shell_does_not_choose_guichets_speedups_nor_its_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RASA_SPEEDUPS", "off")
    monkeypatch.setenv("DATABASE_URL", "postgresql://somewhere/else")

    env = servers.guichet_environment("/tmp/var", PORTS)

    assert env["RASA_SPEEDUPS"] == "on"
    assert "DATABASE_URL" not in env


def test_guichet_and_its_off_floor_run_the_same_command_the_stack_starts_with() -> None:
    assert servers.guichet_command()[1:] == ["-m", "bot", "run"]


def test_the_plain_floor_is_rasas_own_command_without_endpoints_and_without_speedups(tmp_path: Path) -> None:
    command = servers.plain_rasa_command(tmp_path / "guichet.tar.gz", tmp_path / "credentials.yml", 5006)

    assert command[1:4] == ["-m", "rasa", "run"]
    # Without --endpoints Rasa reads the repository's endpoints.yml (our stores, NLG, action server): an empty one.
    assert command[command.index("--endpoints") + 1] == str(tmp_path / "endpoints.yml")
    assert servers.plain_rasa_environment()["RASA_SPEEDUPS"] == "off"


@pytest.mark.parametrize(
    ("command_line", "label"),
    [
        ("/work/main/.venv/bin/python -m bot.runtime.server run --model models/guichet.tar.gz", "rasa server"),
        ("/work/main/.venv/bin/python -m rasa run --model models/guichet.tar.gz --enable-api", "rasa server"),
        ("/work/main/.venv/bin/python -m rasa_sdk --actions actions --port 5055", "action server"),
        ("/work/main/.venv/bin/python -m bot.runtime.actions --actions actions --port 5055", "action server"),
        ("/work/main/.venv/bin/python -m bot console", "console"),
        ("/work/main/.venv/bin/python -m bot run", "supervisor (bot run)"),
    ],
)
def test_processes_are_named_from_their_command_lines(command_line: str, label: str) -> None:
    assert servers.label_of(command_line) == label


def test_no_bench_module_starts_or_names_a_module_path_that_moved() -> None:
    moved = ("bot.rasa_server", "bot.rasa_train", "bot.tracker_store", "bot.lock_store", "bot.policies",
             "bot.graph_runner", "bot.fast_load", "bot/rasa_server", "bot/policies.py", "bot/catalog/")  # fmt: skip
    bench = Path(servers.__file__).parent
    for source in bench.glob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert not [path for path in moved if path in text], source.name


@pytest.mark.parametrize(
    ("log", "speedups", "problem"),
    [
        ("INFO bot.speedups - RASA_SPEEDUPS=off: speed-ups off, the bot runs on plain Rasa", False, None),
        ("INFO rasa.core.agent - Loading model", False, "does not say"),
        ("INFO bot.speedups - Speed-ups on: 10 replacements of Rasa 3.6.21 internals", True, None),
        ("WARNING bot.speedups - Speed-ups off: they are written for Rasa 3.6.21 and this is Rasa 3.7", True, "says"),
    ],
)
def test_a_start_up_log_that_contradicts_the_switch_is_caught(log: str, speedups: bool, problem: str | None) -> None:
    found = servers.speedups_mismatch(log, speedups)
    assert found is None if problem is None else problem in (found or "")


def test_each_configuration_has_a_log_file_of_its_own(tmp_path: Path) -> None:
    names = ["embedded", floors.speedups_off("embedded"), "production", floors.speedups_off("production"), floors.PLAIN]
    paths = {servers.log_path(tmp_path, name) for name in names}
    assert len(paths) == len(names)
    assert servers.log_path(tmp_path, "production (speed-ups off)").name == "production-speed-ups-off.log"


def test_floors_are_named_after_their_setup_and_are_not_guichet() -> None:
    assert floors.speedups_off("production") == "production (speed-ups off)"
    assert floors.off_target("embedded / web chat") == "embedded (speed-ups off) / web chat"
    assert floors.off_target("embedded (speed-ups off) / REST") is None
    assert floors.off_target(floors.PLAIN_REST) is None
    assert [floors.is_floor(name) for name in ("embedded", "production (speed-ups off)", floors.PLAIN)] == [
        False,
        True,
        True,
    ]


@pytest.mark.parametrize(
    ("setup", "levels", "runs"),
    [
        ("embedded", FULL, (("REST", 1),)),
        ("production", FULL, (("REST", 1), ("REST", 16), ("web chat", 16))),
        ("production", QUICK, (("REST", 1), ("REST", 4), ("web chat", 4))),
        ("production", (16,), (("REST", 16), ("web chat", 16))),
    ],
)
def test_the_off_floor_is_measured_where_the_targets_read(setup: str, levels: tuple[int, ...], runs: Any) -> None:
    assert floors.headline_runs(setup, levels) == runs


def test_guichet_itself_is_measured_at_every_level_on_both_channels() -> None:
    assert floors.every_run(QUICK) == (
        ("REST", 1), ("REST", 4), ("web chat", 1), ("web chat", 4), ("phone", 1), ("phone", 4),
    )  # fmt: skip


def test_the_report_is_told_what_each_floor_is_and_where_it_was_measured() -> None:
    described = floors.described(["embedded", "production"], FULL, off_floor=True)

    assert [f["floor"] for f in described] == ["speed-ups off", floors.PLAIN]
    off = described[0]
    assert "RASA_SPEEDUPS=off" in off["what"] and "only by RASA_SPEEDUPS=off" in off["what"]
    assert "embedded: REST × 1; production: REST × 1, REST × 16, web chat × 16" in off["measured"]
    assert "no action server" in described[1]["what"]
    assert [f["floor"] for f in floors.described(["embedded"], FULL, off_floor=False)] == [floors.PLAIN]


class FakeBench:
    """Records what measure_setup asks of the bench."""

    def __init__(self, levels: tuple[int, ...]) -> None:
        self.levels = levels
        self.measured: list[tuple[str, tuple[tuple[str, int], ...]]] = []
        self.profiled: list[str] = []

    def note_setup(self, name: str, server: servers.Server) -> None:
        pass

    def note_peak(self, name: str, server: servers.Server) -> None:
        pass

    async def setup_runs(self, name: str, server: servers.Server, runs: Any) -> None:
        self.measured.append((name, tuple(runs)))

    async def profile(self, server: servers.Server, seconds: float, out: Path) -> None:
        self.profiled.append(server.name)


@pytest.mark.parametrize("setup", ["embedded", "production"])
def test_a_setups_off_floor_is_started_like_the_setup_with_speedups_off_only(
    setup: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from bench import __main__ as bench_main

    started: list[tuple[str, dict[str, Any]]] = []

    @contextmanager
    def guichet(name: str, logs: Path, **options: Any) -> Iterator[servers.Server]:
        started.append((name, options))
        yield servers.Server(name, "http://127.0.0.1:1", process=None)  # type: ignore[arg-type]

    @contextmanager
    def database() -> Iterator[str]:
        yield "postgresql://bench@127.0.0.1/guichet_bench_test"

    monkeypatch.setattr(servers, "guichet", guichet)
    monkeypatch.setattr(servers, "bench_database", database)
    bench = FakeBench(FULL)

    for speedups in (True, False):
        bench_main.measure_setup(bench, setup, tmp_path, 2, 5.0, tmp_path, speedups=speedups)  # type: ignore[arg-type]

    (on_name, on_options), (off_name, off_options) = started
    assert (on_name, off_name) == (setup, f"{setup} (speed-ups off)")
    assert (on_options.pop("speedups"), off_options.pop("speedups")) == (True, False)
    assert on_options == off_options  # a throw-away database of its own, the same Redis and workers
    assert bench.measured == [(setup, floors.every_run(FULL)), (off_name, floors.headline_runs(setup, FULL))]
    assert bench.profiled == (["embedded"] if setup == "embedded" else [])  # the floor is not profiled


STAND_IN = """
import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

if os.environ["RASA_SPEEDUPS"] == "off" or "--version-mismatch" in sys.argv:
    print("WARNING bot.speedups - Speed-ups off", file=sys.stderr, flush=True)


class Webhook(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps([{"text": "Bonjour."}]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("127.0.0.1", int(os.environ["RASA_PORT"])), Webhook).serve_forever()
"""


def test_the_start_up_log_is_read_from_the_running_configuration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A stand-in for `python -m bot run` on localhost: the floor that logs "speed-ups off" runs; Guichet is refused."""
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    monkeypatch.setattr(servers, "guichet_command", lambda: [sys.executable, str(script)])

    with servers.guichet("embedded (speed-ups off)", tmp_path / "logs", speedups=False) as floor:
        assert floor.notes == ["RASA_SPEEDUPS=off"]
    monkeypatch.setattr(servers, "guichet_command", lambda: [sys.executable, str(script), "--version-mismatch"])
    with pytest.raises(RuntimeError, match="RASA_SPEEDUPS=on, but its log says"):
        with servers.guichet("embedded", tmp_path / "logs"):
            pass
