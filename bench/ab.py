"""Two checkouts compared on the same machine in the same hour: CPU time per turn, interleaved (python -m bench.ab).

Wall-clock throughput swings by up to 3x on these machines within an hour, and any other process shows up in it.
The CPU time the stack's own processes spend per turn (user + system, read from /proc for the whole process tree of
`python -m bot run`) depends far less on what else runs. Each round starts one checkout's stack, drives the same
sequential REST conversations (bench.load.SCRIPT), stops it, then does the same for the other checkout; rounds
alternate so that a drift of the machine falls on both. Each checkout uses its own trained model and its own var/.

    python -m bench.ab --tree before=/path/to/old/worktree --tree after=. --rounds 3 --conversations 25
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.load import SCRIPT

REST_URL = "http://127.0.0.1:5005/webhooks/rest/webhook"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Round:
    """What one start of one checkout measured."""

    tree: str
    turns: int
    cpu_seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0

    @property
    def cpu_ms_per_turn(self) -> float:
        return 1000 * self.cpu_seconds / max(self.turns, 1)


def tree_cpu_seconds(root_pid: int) -> float:
    """User + system CPU time of a process and all its descendants, living ones only (read from /proc)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / TICKS
    total, stack = 0.0, [root_pid]
    while stack:
        pid = stack.pop()
        total += times.get(pid, 0.0)
        stack.extend(child for child, parent in parents.items() if parent == pid)
    return total


def start(tree: Path, log: Path) -> subprocess.Popen[bytes]:
    """`python -m bot run` in a checkout, with the load tests' rate limit lifted."""
    env = dict(os.environ, PYTHONPATH=str(tree), RATE_LIMIT_PER_MINUTE="1000000", RASA_TELEMETRY_ENABLED="false")
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(tree / ".venv" / "bin" / "python"), "-m", "bot", "run"],
            cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def wait_ready(client: httpx.Client, process: subprocess.Popen[bytes], timeout: float = 300.0) -> None:
    """Until the assistant answers a greeting through REST with a custom action behind it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the stack stopped while starting")
        try:
            answer = client.post(REST_URL, json={"sender": "ab-ready", "message": "la mairie est ouverte ?"})
            if answer.status_code == 200 and answer.json():
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError("the stack did not answer in time")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT to the whole session (the supervisor stops its children), then SIGKILL if it lingers."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def measure(name: str, tree: Path, conversations: int, log: Path) -> Round:
    """Start the checkout, warm it with one conversation, then time `conversations` scripted ones."""
    process = start(tree, log)
    try:
        with httpx.Client(timeout=30) as client:
            wait_ready(client, process)
            drive(client, 1)  # warm-up: first calls of every code path
            before = tree_cpu_seconds(process.pid)
            result = Round(name, 0, 0.0)
            drive(client, conversations, result)
            result.cpu_seconds = tree_cpu_seconds(process.pid) - before
            return result
    finally:
        stop(process)


def drive(client: httpx.Client, conversations: int, result: Round | None = None) -> None:
    """Run the bench's script, conversation after conversation, one turn at a time."""
    for _ in range(conversations):
        sender = f"ab-{uuid.uuid4().hex[:12]}"
        for turn in SCRIPT:
            began = time.perf_counter()
            answer = client.post(REST_URL, json={"sender": sender, "message": turn.text})
            elapsed = 1000 * (time.perf_counter() - began)
            if result is None:
                continue
            result.turns += 1
            ok = answer.status_code == 200 and bool(answer.json())
            ok = ok and "indisponible" not in json.dumps(answer.json(), ensure_ascii=False)
            result.errors += not ok
            result.latencies_ms.append(elapsed)
            result.by_kind.setdefault(turn.kind, []).append(elapsed)


def main(argv: list[str] | None = None) -> int:
    """Alternate the checkouts round after round; print and write the comparison."""
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    parser.add_argument("--tree", action="append", required=True, help="NAME=PATH of a checkout with .venv and models/")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--conversations", type=int, default=25, help="scripted conversations per round")
    parser.add_argument("--out", type=Path, default=Path("bench/reports/ab.json"))
    args = parser.parse_args(argv)
    trees = [(name, Path(path).resolve()) for name, path in (t.split("=", 1) for t in args.tree)]
    rounds: list[Round] = []
    log = args.out.with_suffix(".log")
    for number in range(args.rounds):
        order = trees if number % 2 == 0 else trees[::-1]
        for name, tree in order:
            measured = measure(name, tree, args.conversations, log)
            rounds.append(measured)
            p50 = statistics.median(measured.latencies_ms)
            kinds = "  ".join(f"{kind} {statistics.median(ms):.1f}" for kind, ms in sorted(measured.by_kind.items()))
            print(f"round {number + 1} {name:10} {measured.turns} turns  {measured.cpu_ms_per_turn:6.1f} CPU ms/turn"
                  f"  p50 {p50:6.1f} ms ({kinds})  errors {measured.errors}", flush=True)  # fmt: skip
    summary = {}
    for name, _ in trees:
        mine = [r for r in rounds if r.tree == name]
        summary[name] = {
            "cpu_ms_per_turn": [round(r.cpu_ms_per_turn, 2) for r in mine],
            "median_cpu_ms_per_turn": round(statistics.median(r.cpu_ms_per_turn for r in mine), 2),
            "p50_ms": [round(statistics.median(r.latencies_ms), 1) for r in mine],
            "p50_ms_by_kind": {
                kind: round(statistics.median(ms for r in mine for ms in r.by_kind.get(kind, [])), 1)
                for kind in sorted({k for r in mine for k in r.by_kind})
            },
            "errors": sum(r.errors for r in mine),
        }
        print(f"{name:10} median {summary[name]['median_cpu_ms_per_turn']} CPU ms/turn over {len(mine)} rounds")
    args.out.write_text(json.dumps({"trees": {n: str(p) for n, p in trees}, "summary": summary}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
