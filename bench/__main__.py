"""`make bench` (python -m bench): NLU, training, load through each channel for each setup, floors, memory, profile.

Each setup is measured beside two floors (bench/floors.py): the same setup with RASA_SPEEDUPS=off, right after it
(at the rows the targets read), and a plain `rasa run` on the same model (at every level). One run, one report:
bench/reports/latest.md (plots beside it) and latest.json. Start it on a quiet machine: every other process on it
shows up in the figures. `--quick` checks the tooling in a few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from bench import floors, load, report, servers
from bench.nlu_eval import REPORTS, evaluate, load_examples, write_report
from bench.profile import py_spy, record, summarise
from bot.runtime.train import model_path
from bot.settings import get_settings

FULL_LEVELS = (1, 4, 16, 32)
QUICK_LEVELS = (1, 4)


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m bench`."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="levels 1 and 4, 4 s each, no training: checks the tooling"
    )
    parser.add_argument("--levels", help="concurrent conversations, comma-separated (default 1,4,16,32)")
    parser.add_argument("--seconds", type=float, help="time per level and channel (default 20, quick 4)")
    parser.add_argument("--max-turns", type=int, default=5000, help="turns per level and channel at most")
    parser.add_argument("--setups", default="embedded,production", help="which of embedded,production to measure")
    parser.add_argument(
        "--no-off-floor",
        action="store_true",
        help="do not measure each setup again with RASA_SPEEDUPS=off (the floor that says what the speed-ups buy)",
    )
    parser.add_argument("--workers", type=int, default=2, help="RASA_WORKERS of the production setup")
    parser.add_argument(
        "--transport",
        choices=["websocket", "polling"],
        default="websocket",
        help="socket.io transport of the simulated browsers (polling needs sticky sessions)",
    )
    parser.add_argument("--think", type=float, default=0.0, help="pause between a citizen's messages (s)")
    parser.add_argument("--skip-training", action="store_true", help="do not time a full training")
    parser.add_argument(
        "--profile-seconds", type=float, help="py-spy sampling of catalog turns (default 15, quick 5; 0: off)"
    )
    parser.add_argument("--out", type=Path, default=REPORTS, help="report directory (default bench/reports)")
    parser.add_argument("--models-dir", type=Path, help="where guichet.tar.gz is (default MODELS_DIR, models/)")
    parser.add_argument("--ready-timeout", type=float, default=300.0, help="seconds a setup may take to start")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the report."""
    args = build_parser().parse_args(argv)
    levels = (
        tuple(int(n) for n in args.levels.split(",")) if args.levels else QUICK_LEVELS if args.quick else FULL_LEVELS
    )
    seconds = args.seconds or (4.0 if args.quick else 20.0)
    profile_seconds = args.profile_seconds if args.profile_seconds is not None else (5.0 if args.quick else 15.0)
    if args.models_dir:
        os.environ["MODELS_DIR"] = str(args.models_dir.resolve())  # the servers started below read it too
    model = model_path(args.models_dir.resolve() if args.models_dir else get_settings().models_dir)
    if not model.exists():
        print("No trained model: run `make train` first.", file=sys.stderr)
        return 2
    wanted = [s.strip() for s in args.setups.split(",") if s.strip()]
    off_floor = not args.no_off_floor
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "quick": args.quick,
        "host": {"cpus": os.cpu_count(), "load_before": " ".join(Path("/proc/loadavg").read_text().split()[:3])},
        "model": str(model.name),
        "model_mb": round(model.stat().st_size / 1e6, 1),
        "script": [{"text": t.text, "kind": t.kind} for t in load.SCRIPT],
        "options": {
            "levels": levels,
            "seconds": seconds,
            "max_turns": args.max_turns,
            "workers": args.workers,
            "transport": args.transport,
            "think_seconds": args.think,
            "off_floor": off_floor,
        },  # fmt: skip
        "floors": floors.described(wanted, levels, off_floor),
        "runs": [],
        "setups": {},
        "error_examples": {},
        "notes": [
            "In Guichet, TED's predictions are remembered per dialogue state (CachedTEDPolicy, "
            "bot/runtime/components/policies.py); in both floors that cache is off. The scripted conversations go "
            "through the same states again and again, so after the first turns TED's own cost is mostly absent from "
            "Guichet's figures; real conversations repeat their states less often (a per-process cache of 4,096 "
            "states), so the speed-ups buy somewhat less there than Guichet ÷ speed-ups off shows."
        ],  # fmt: skip
    }
    logs = args.out / "logs"
    servers.READY_TIMEOUT_SECONDS = args.ready_timeout
    bench = Bench(results, levels, seconds, args.max_turns, args.transport, args.think)

    print(f"bench: {floors.PLAIN} floor (on {model.name})", flush=True)
    bench.probe(floors.PLAIN)
    with servers.plain_rasa(model, logs) as plain:
        bench.note_setup(floors.PLAIN, plain)
        asyncio.run(bench.nlu(plain, model, args.out))
        asyncio.run(bench.plain_floor(plain))
        bench.note_peak(floors.PLAIN, plain)

    for setup in wanted:
        # Each setup's speed-ups-off floor right after it: the two run at the machine's speed of the same minutes.
        for speedups in (True, False) if off_floor else (True,):
            name = setup if speedups else floors.speedups_off(setup)
            print(f"bench: {name}", flush=True)
            bench.probe(name)
            try:
                measure_setup(bench, setup, logs, args.workers, profile_seconds, args.out, speedups=speedups)
            except RuntimeError as error:  # a setup that does not start is reported, the others are still measured
                first_line = str(error).splitlines()[0]
                print(f"  {first_line}", flush=True)
                results["notes"].append(f"{name} not measured: {first_line} (log: {servers.log_path(logs, name)})")

    if not args.skip_training and not args.quick:
        from bench.training_time import timed_training

        print("bench: timing a full training", flush=True)
        bench.probe("training")
        results["training"] = asdict(timed_training())

    bench.probe("end")
    path = report.write(results, args.out)
    print(f"bench: report written to {path}")
    for target in results["targets"]:
        print(f"  {'OK ' if target['met'] else '-- ' if target['met'] is None else 'NO '} {target['target']}: "
              f"{target['measured']} (goal {target['goal']})")  # fmt: skip
    return 0


def measure_setup(bench: Bench, setup: str, logs: Path, workers: int, profile_seconds: float, out: Path,
                  speedups: bool = True) -> None:  # fmt: skip
    """Start one setup, measure it through both channels (and profile the embedded one), stop it.

    With speedups=False it is the setup's speed-ups-off floor, measured at the rows the targets read only.
    """
    name = setup if speedups else floors.speedups_off(setup)
    with ExitStack() as stack:
        if setup == "production":
            database = stack.enter_context(servers.bench_database())
            production = servers.guichet(
                name, logs, database_url=database, redis_url=servers.REDIS_URL, workers=workers, speedups=speedups
            )
            server = stack.enter_context(production)
            server.notes.append(f"PostgreSQL tracker store, Redis locks and web chat, RASA_WORKERS={workers}")
        else:
            server = stack.enter_context(servers.guichet(name, logs, speedups=speedups))
            server.notes.append("SQLite under var/, in-memory locks, one rasa process")
        bench.note_setup(name, server)
        runs = floors.every_run(bench.levels) if speedups else floors.headline_runs(setup, bench.levels)
        asyncio.run(bench.setup_runs(name, server, runs))
        if speedups and setup == "embedded" and profile_seconds > 0:
            asyncio.run(bench.profile(server, profile_seconds, out))
        bench.note_peak(name, server)


class Bench:
    """The measurements of one benchmark run, accumulated into `results`."""

    def __init__(self, results: dict[str, Any], levels: tuple[int, ...], seconds: float, max_turns: int,
                 transport: str, think: float) -> None:  # fmt: skip
        self.results = results
        self.levels = levels
        self.seconds = seconds
        self.max_turns = max_turns
        self.transport = transport
        self.think = think

    def probe(self, phase: str) -> None:
        """The machine's speed now, before `phase` (see servers.cpu_probe_ms)."""
        self.results.setdefault("cpu_probes", []).append({"phase": phase, "ms": servers.cpu_probe_ms()})

    def note_setup(self, name: str, server: servers.Server) -> None:
        """Ready time and idle memory, right after start-up."""
        time.sleep(2)  # let the start-up settle before reading idle memory
        self.results["setups"][name] = {
            "ready_seconds": round(server.ready_seconds, 1),
            "idle_memory": server.memory.now() if server.memory else {},
            "notes": server.notes,
        }
        self.results["notes"] += [f"{name}: {n.removeprefix(servers.WARNING)}" for n in server.notes
                                  if n.startswith(servers.WARNING)]  # fmt: skip

    def note_peak(self, name: str, server: servers.Server) -> None:
        """Peak memory of each process during the measurements."""
        if server.memory:
            self.results["setups"][name]["peak_memory"] = dict(server.memory.peak)

    def add(self, result: load.LoadResult, kinds: tuple[str, ...] = ()) -> None:
        """Record a run (and its per-kind summaries), and print it."""
        summary = result.summary()
        self.results["runs"].append(summary)
        self.results["runs"].extend(result.summary(kind) for kind in kinds if result.latencies(kind))
        if result.errors:
            self.results["error_examples"].setdefault(result.target, sorted(set(result.errors))[:5])
        print(f"  {result.target:32} c={result.concurrency:<3} {summary['msg_per_s']:>7} msg/s  p50 {summary['p50']} "
              f"p95 {summary['p95']} p99 {summary['p99']} ms  errors {summary['errors']} "
              f"(« indisponible » {summary['unavailable']})", flush=True)  # fmt: skip

    async def nlu(self, plain: servers.Server, model: Path, out: Path) -> None:
        """Held-out split accuracy, macro-F1, per-intent F1 and confusion matrix, through the plain /model/parse."""
        async with httpx.AsyncClient(timeout=30) as client:

            async def parse(text: str) -> dict[str, Any]:
                response = await client.post(
                    f"{plain.url}/model/parse", params={"token": servers.TOKEN}, json={"text": text}
                )
                response.raise_for_status()
                return dict(response.json())

            nlu = await evaluate(parse, load_examples())
        write_report(nlu, model, out)
        self.results["nlu"] = {"accuracy": round(nlu.accuracy, 4), "macro_f1": round(nlu.macro_f1, 4),
                               "examples": nlu.examples, "per_intent": [asdict(s) for s in nlu.per_intent],
                               "errors": len(nlu.errors)}  # fmt: skip
        print(f"  NLU accuracy {nlu.accuracy:.3f} macro-F1 {nlu.macro_f1:.3f}", flush=True)

    async def plain_floor(self, plain: servers.Server) -> None:
        """The plain `/model/parse` and the plain REST channel at every level."""
        plain_rest = load.rest_conversation(plain.url, require_answer=False)
        await load.closed_loop("warm-up", 1, plain_rest, 30, len(load.SCRIPT) * 2)
        parse = load.parse_conversation(plain.url, servers.TOKEN)
        for level in self.levels:
            self.add(await load.closed_loop(floors.PLAIN_PARSE, level, parse, self.seconds, self.max_turns))
        for level in self.levels:
            self.add(await load.closed_loop(floors.PLAIN_REST, level, plain_rest, self.seconds, self.max_turns),
                     ("catalog",))  # fmt: skip

    async def setup_runs(self, name: str, server: servers.Server, runs: Sequence[tuple[str, int]]) -> None:
        """These (channel, concurrency) runs, in order, through the REST channel, the web chat (socket.io) or the
        phone channel (signed Twilio Voice turns)."""
        load.allow_websocket_with_old_aiohttp()
        async with httpx.AsyncClient(timeout=60) as client:
            expected = await load.replies_per_turn(client, server.url)
        await load.closed_loop("warm-up", 2, load.rest_conversation(server.url), 60, len(load.SCRIPT) * 4)
        conversations = {
            "REST": load.rest_conversation(server.url),
            "web chat": load.socketio_conversation(server.url, expected, transport=self.transport,
                                                   think_seconds=self.think),
            "phone": load.voice_conversation(server.url, servers.TWILIO_AUTH_TOKEN),
        }  # fmt: skip
        for channel, level in runs:
            self.add(await load.closed_loop(f"{name} / {channel}", level, conversations[channel], self.seconds,
                                            self.max_turns), ("catalog",))  # fmt: skip

    async def profile(self, server: servers.Server, seconds: float, out: Path) -> None:
        """Sample the rasa and action servers with py-spy while one citizen asks catalog questions."""
        if py_spy() is None:
            self.results["notes"].append("py-spy is not installed (pip install py-spy==0.4.0): no profile.")
            return
        pids = {servers.label(pid): pid for pid in servers.descendants(server.process.pid)}
        targets = {name: pids[name] for name in ("rasa server", "action server") if name in pids}
        files = {name: out / f"profile-{name.split()[0]}.txt" for name in targets}
        samplers = {name: (record(pid, seconds, files[name]), files[name]) for name, pid in targets.items()}
        catalog = tuple(t for t in load.SCRIPT if t.kind == "catalog")
        await asyncio.sleep(1)  # py-spy attaches
        await load.closed_loop("profiled", 1, load.rest_conversation(server.url, catalog), seconds - 1.5,
                               self.max_turns)  # fmt: skip
        profiles = []
        for name, (process, path) in samplers.items():
            if process is None:
                continue
            await asyncio.to_thread(process.wait, 60)
            if path.exists():
                profiles.append(asdict(summarise(name, path.read_text())))
        self.results["profile"] = profiles
        self.results["findings"] = findings(profiles)


def findings(profiles: list[dict[str, Any]]) -> list[str]:
    """One sentence per profiled process: where most of its time goes."""
    lines = []
    for profile in profiles:
        top = ", ".join(f"{name} {share} %" for name, share in profile["components"][:5])
        lines.append(f"{profile['process']}: {top}.")
    return lines


if __name__ == "__main__":
    sys.exit(main())
