"""The benchmark's report: `bench/reports/latest.md` with its plots, and `latest.json` with every figure.

Guichet's figures stand beside its two floors (bench/floors.py): the same setup with RASA_SPEEDUPS=off, and a plain
`rasa run` on the same model. Every ratio is Guichet ÷ floor.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.floors import PLAIN, PLAIN_PARSE, PLAIN_REST, is_floor, off_target, speedups_off, throughput_runs

# --- targets --------------------------------------------------------------------------------------------------


def find_run(runs: list[dict[str, Any]], target: str, concurrency: int, kind: str = "all") -> dict[str, Any] | None:
    """The summary of one run (one target, one concurrency, one kind of turn)."""
    return next((r for r in runs if r["target"] == target and r["concurrency"] == concurrency and r["kind"] == kind),
                None)  # fmt: skip


def _rasa_memory(setup: dict[str, Any]) -> dict[str, float]:
    """Idle memory (MB) of each rasa server process of a setup."""
    return {k: v for k, v in setup.get("idle_memory", {}).items() if k.startswith("rasa server")}


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 8 with what was measured and whether it is met (None: not measured in this run).

    Beside each figure: the same figure with the speed-ups off, and plain `rasa run`'s, when they were measured.
    """
    runs = results.get("runs", [])
    setups = results.get("setups", {})
    plain = setups.get(PLAIN)
    checks: list[dict[str, Any]] = []

    def add(name: str, goal: str, measured: str | None, met: bool | None) -> None:
        checks.append({"target": name, "goal": goal, "measured": measured or "not measured", "met": met})

    for setup in ("embedded", "production"):
        run = find_run(runs, f"{setup} / REST", 1, "catalog")
        name, goal = f"one conversation, catalog turn ({setup}, REST)", "p50 ≤ 40 ms, p95 ≤ 80 ms"
        if run and run["p50"] is not None:
            off = find_run(runs, f"{speedups_off(setup)} / REST", 1, "catalog")
            beside = _beside(("speed-ups off", f"p50 {off['p50']} ms, p95 {off['p95']} ms" if off else None))
            add(name, goal, f"p50 {run['p50']} ms, p95 {run['p95']} ms{beside}", run["p50"] <= 40 and run["p95"] <= 80)
        else:
            add(name, goal, None, None)
    for channel in ("REST", "web chat"):
        run = find_run(runs, f"production / {channel}", 16)
        name, goal = f"16 conversations, production ({channel})", "≥ 90 msg/s, p95 ≤ 400 ms, no error"
        if run:
            met = run["msg_per_s"] >= 90 and (run["p95"] or 1e9) <= 400 and run["errors"] == 0
            off = find_run(runs, f"{speedups_off('production')} / {channel}", 16)
            floor = find_run(runs, PLAIN_REST, 16)
            beside = _beside(
                ("speed-ups off", f"{off['msg_per_s']} msg/s, p95 {off['p95']} ms" if off else None),
                (f"{PLAIN} REST", f"{floor['msg_per_s']} msg/s, p95 {floor['p95']} ms" if floor else None),
            )
            add(name, goal, f"{run['msg_per_s']} msg/s, p95 {run['p95']} ms, {run['errors']} errors{beside}", met)
        else:
            add(name, goal, None, None)
    for name, setup in setups.items():
        if is_floor(name):  # a floor has no goal of its own: it stands beside each setup's figures
            continue
        off = setups.get(speedups_off(name))
        beside = _beside(
            ("speed-ups off", f"{off['ready_seconds']:.1f} s" if off else None),
            (PLAIN, f"{plain['ready_seconds']:.1f} s" if plain else None),
        )
        add(f"ready to answer ({name})", "≤ 30 s", f"{setup['ready_seconds']:.1f} s{beside}",
            setup["ready_seconds"] <= 30)  # fmt: skip
        rasa = _rasa_memory(setup)
        if rasa:
            off_gb, plain_gb = _largest_rasa_gb(off), _largest_rasa_gb(plain)
            beside = _beside(
                ("speed-ups off", f"{off_gb:.2f} GB" if off_gb else None),
                (PLAIN, f"{plain_gb:.2f} GB" if plain_gb else None),
            )
            add(f"rasa idle memory ({name})", "≤ 1.6 GB per rasa process",
                ", ".join(f"{k} {v / 1024:.2f} GB" for k, v in rasa.items()) + beside,
                max(rasa.values()) <= 1.6 * 1024)  # fmt: skip
    training = results.get("training")
    add("full training", "≤ 4 min", f"{training['seconds']:.0f} s" if training else None,
        training["seconds"] <= 240 if training else None)  # fmt: skip
    return checks


def _beside(*figures: tuple[str, str | None]) -> str:
    """` (floor: figure; other floor: figure)` for the floors that were measured, or nothing."""
    measured = [f"{name}: {figure}" for name, figure in figures if figure]
    return f" ({'; '.join(measured)})" if measured else ""


def _largest_rasa_gb(setup: dict[str, Any] | None) -> float | None:
    """Idle memory (GB) of the largest rasa server process of a setup, None when not measured."""
    rasa = _rasa_memory(setup) if setup else {}
    return round(max(rasa.values()) / 1024, 2) if rasa else None


# --- Guichet beside its floors ----------------------------------------------------------------------------------


def _levels(results: dict[str, Any]) -> list[int]:
    """The concurrency levels of the run (from its options, or from its runs)."""
    levels = (results.get("options") or {}).get("levels")
    return list(levels) if levels else sorted({r["concurrency"] for r in results.get("runs", [])}) or [1]


def _row(measurement: str, unit: str, guichet: float | None, off: float | None, plain: float | None) -> dict[str, Any]:
    """One headline: Guichet's figure, its floors' and the ratios (Guichet ÷ floor)."""

    def times(floor: float | None) -> float | None:
        return round(guichet / floor, 2) if guichet is not None and floor else None

    return {"measurement": measurement, "unit": unit, "guichet": guichet, "speedups_off": off, "plain": plain,
            "guichet_vs_speedups_off": times(off), "guichet_vs_plain": times(plain)}  # fmt: skip


def headlines(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline figures of each setup: Guichet, with its speed-ups off, and plain `rasa run`, with the ratios."""
    runs, setups, levels = results.get("runs", []), results.get("setups", {}), _levels(results)

    def figure(target: str, concurrency: int, kind: str, key: str) -> float | None:
        run = find_run(runs, target, concurrency, kind)
        return run[key] if run else None

    rows = []
    for setup in (name for name in setups if not is_floor(name)):
        off = speedups_off(setup)
        one = min(levels)
        for key in ("p50", "p95"):
            rows.append(_row(f"catalog turn {key}, {one} conversation{'s' if one > 1 else ''}, REST ({setup})", "ms",
                             figure(f"{setup} / REST", one, "catalog", key),
                             figure(f"{off} / REST", one, "catalog", key),
                             figure(PLAIN_REST, one, "catalog", key)))  # fmt: skip
        for channel, level in throughput_runs(setup, levels):
            plain_target = PLAIN_REST if channel == "REST" else None  # plain rasa run has no web chat
            for key, label, unit in (("msg_per_s", "throughput", "msg/s"), ("p95", "p95", "ms")):
                rows.append(_row(f"{level} conversations, {channel}, {label} ({setup})", unit,
                                 figure(f"{setup} / {channel}", level, "all", key),
                                 figure(f"{off} / {channel}", level, "all", key),
                                 figure(plain_target, level, "all", key) if plain_target else None))  # fmt: skip
        rows.append(_row(f"ready to answer ({setup})", "s", setups[setup]["ready_seconds"],
                         (setups.get(off) or {}).get("ready_seconds"),
                         (setups.get(PLAIN) or {}).get("ready_seconds")))  # fmt: skip
        rows.append(_row(f"idle memory, largest rasa process ({setup})", "GB", _largest_rasa_gb(setups[setup]),
                         _largest_rasa_gb(setups.get(off)), _largest_rasa_gb(setups.get(PLAIN))))  # fmt: skip
    return rows


def _headline_section(results: dict[str, Any]) -> list[str]:
    """Guichet, Guichet with its speed-ups off, and plain `rasa run`, side by side; then what each floor is."""
    lines = ["## Guichet beside its floors", ""]
    for floor in results.get("floors", []):
        lines.append(f"- **{floor['floor']}**: {floor['what']} Measured: {floor['measured']}.")
    lines += [
        "",
        "Ratios are Guichet ÷ floor: below ×1 is less time or memory, above ×1 more messages per second. "
        "Guichet ÷ speed-ups off is what the speed-ups buy.",
        "",
        "| measurement | Guichet | speed-ups off | Guichet ÷ speed-ups off | plain rasa run "
        "| Guichet ÷ plain rasa run |",
        "|---|---|---|---|---|---|",
    ]
    for row in results.get("headlines", []):
        lines.append(f"| {row['measurement']} | {_value(row['guichet'], row['unit'])} | "
                     f"{_value(row['speedups_off'], row['unit'])} | {ratio(row['guichet'], row['speedups_off'])} | "
                     f"{_value(row['plain'], row['unit'])} | {ratio(row['guichet'], row['plain'])} |")  # fmt: skip
    return [*lines, ""]


def _value(value: float | None, unit: str) -> str:
    """A figure with its unit, or a dash when it was not measured."""
    return "–" if value is None else f"{value:.2f} {unit}" if unit == "GB" else f"{value} {unit}"


# --- writing --------------------------------------------------------------------------------------------------


def ratio(value: float | None, floor: float | None) -> str:
    """`value / floor` as `×1.23`, or a dash when either is missing."""
    if value is None or not floor:
        return "–"
    return f"×{value / floor:.2f}"


def write(results: dict[str, Any], out: Path) -> Path:
    """Write latest.json, the plots and latest.md; return the Markdown path."""
    out.mkdir(parents=True, exist_ok=True)
    results["targets"] = check_targets(results)
    results["headlines"] = headlines(results)
    (out / "latest.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    plots = draw_plots(results, out)
    path = out / "latest.md"
    path.write_text(render(results, plots), encoding="utf-8")
    return path


def _probe_lines(results: dict[str, Any]) -> list[str]:
    """The machine's speed before each phase: the same fixed workload, timed (lower is faster)."""
    probes = results.get("cpu_probes") or []
    if not probes:
        return []
    fastest = min(p["ms"] for p in probes)
    timings = ", ".join(f"{p['phase']} {p['ms']:.0f} ms (×{p['ms'] / fastest:.2f})" for p in probes)
    return ["", f"Machine speed before each phase (a fixed single-threaded workload, lower is faster): {timings}. "
                "This shared machine's speed varies by up to twice from one minute to the next; compare figures "
                "of phases that ran at a similar speed."]  # fmt: skip


def render(results: dict[str, Any], plots: list[str]) -> str:
    """The Markdown report."""
    runs = results.get("runs", [])
    lines = [
        "# Guichet benchmark",
        "",
        f"Run {results['started']} on {results['host']['cpus']} CPU(s), load average before the run "
        f"{results['host']['load_before']}. Command: `{results['command']}`"
        + (" (**quick run: short and few levels, figures are indicative only**)" if results.get("quick") else "")
        + ".",
        *_probe_lines(results),
        "",
        "Closed loop: each simulated citizen sends a message, waits for the whole answer, then sends the next; "
        "a new conversation starts when the script ends. Script: "
        + "; ".join(f"“{t['text']}” ({t['kind']})" for t in results.get("script", []))
        + ". Every figure sits next to its floors, measured in the same run: what each floor is, and Guichet beside "
        "them, under “Guichet beside its floors”.",
        "",
        "## Targets",
        "",
        "| target | goal | measured | met |",
        "|---|---|---|---|",
        *(f"| {t['target']} | {t['goal']} | {t['measured']} | {_met(t['met'])} |" for t in results.get("targets", [])),
        "",
    ]
    lines += _headline_section(results)
    lines += _nlu_section(results)
    lines += [
        "## Load",
        "",
        "| target | conversations | msg/s | p50 ms | p95 ms | p99 ms | errors | « indisponible » "
        "| msg/s vs speed-ups off | p50 vs speed-ups off | msg/s vs plain REST | p50 vs plain REST | p50 vs parse |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in (r for r in runs if r["kind"] == "all"):
        off = _off_run(runs, run)
        floor = find_run(runs, PLAIN_REST, run["concurrency"]) or {}
        parse = find_run(runs, PLAIN_PARSE, run["concurrency"]) or {}
        lines.append(
            f"| {run['target']} | {run['concurrency']} | {run['msg_per_s']} | {run['p50']} | {run['p95']} | "
            f"{run['p99']} | {run['errors']} | {run.get('unavailable', '–')} | "
            f"{ratio(run['msg_per_s'], off.get('msg_per_s'))} | "
            f"{ratio(run['p50'], off.get('p50'))} | {ratio(run['msg_per_s'], floor.get('msg_per_s'))} | "
            f"{ratio(run['p50'], floor.get('p50'))} | {ratio(run['p50'], parse.get('p50'))} |"
        )
    lines += ["", "Turns that run a catalog action (hours, address, procedure, waste collection; plain rasa run "
              "has no action server, so there they run none):", "",
              "| target | conversations | turns | p50 ms | p95 ms | p99 ms | p50 vs speed-ups off |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    lines += [
        f"| {r['target']} | {r['concurrency']} | {r['messages']} | {r['p50']} | {r['p95']} | {r['p99']} | "
        f"{ratio(r['p50'], _off_run(runs, r).get('p50'))} |"
        for r in runs
        if r["kind"] == "catalog"
    ]
    lines += ["", *(f"![{p}]({p})" for p in plots), ""]
    lines += _setup_section(results)
    lines += _profile_section(results)
    errors = results.get("error_examples", {})
    if errors:
        lines += ["## Error examples", ""]
        lines += [f"- {target}: {', '.join(examples)}" for target, examples in errors.items()]
        lines.append("")
    if results.get("notes"):
        lines += ["## Notes", "", *(f"- {n}" for n in results["notes"]), ""]
    return "\n".join(lines)


def _off_run(runs: list[dict[str, Any]], run: dict[str, Any]) -> dict[str, Any]:
    """The speed-ups-off floor's run beside a Guichet run (same channel, concurrency and kind), or {}."""
    target = off_target(run["target"])
    return (find_run(runs, target, run["concurrency"], run["kind"]) if target else None) or {}


def _met(value: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "–"}[value]


def _nlu_section(results: dict[str, Any]) -> list[str]:
    nlu = results.get("nlu")
    training = results.get("training")
    lines = ["## NLU", ""]
    if nlu:
        lines += [
            f"Held-out split ({nlu['examples']} examples, never trained on): accuracy **{nlu['accuracy']:.3f}**, "
            f"macro-F1 **{nlu['macro_f1']:.3f}**. Per intent and errors: [nlu_eval.md](nlu_eval.md).",
            "",
            "| intent | F1 | support |",
            "|---|---|---|",
            *(f"| {s['intent']} | {s['f1']:.2f} | {s['support']} |" for s in nlu["per_intent"]),
            "",
            "![confusion matrix](nlu_confusion.png)",
            "",
        ]
    if training:
        lines.append(f"Full training (`rasa train --force`, empty cache): **{training['seconds']:.0f} s**; "
                     f"model {training['model_mb']} MB.")  # fmt: skip
    else:
        lines.append("Training not timed in this run (`--quick` or `--skip-training`).")
    lines += [f"Model in use: `{results.get('model')}` ({results.get('model_mb')} MB).", ""]
    return lines


def _setup_section(results: dict[str, Any]) -> list[str]:
    lines = ["## Processes", "", "| setup | ready to answer | process | idle MB | peak MB |", "|---|---|---|---|---|"]
    for name, setup in results.get("setups", {}).items():
        for process, idle in setup.get("idle_memory", {}).items():
            peak = setup.get("peak_memory", {}).get(process, idle)
            lines.append(f"| {name} | {setup['ready_seconds']:.1f} s | {process} | {idle:.0f} | {peak:.0f} |")
        lines += [f"| {name} | | note: {note} | | |" for note in setup.get("notes", [])]
    return [*lines, ""]


def _profile_section(results: dict[str, Any]) -> list[str]:
    profiles = results.get("profile") or []
    lines = ["## Where the time goes (catalog turns, one citizen, py-spy)", ""]
    if not profiles:
        return [*lines, "Not profiled in this run (`--profile` with py-spy installed).", ""]
    for profile in profiles:
        lines += [f"**{profile['process']}** ({profile['samples']} samples)", "", "| component | share |", "|---|---|"]
        lines += [f"| {name} | {share} % |" for name, share in profile["components"]]
        lines += ["", "| function (inclusive) | share |", "|---|---|"]
        lines += [f"| `{name}` | {share} % |" for name, share in profile["functions"]]
        lines.append("")
    lines += [*(f"- {f}" for f in results.get("findings", [])), ""]
    return lines


def _line_style(target: str) -> str:
    """Guichet solid, its speed-ups-off floor dotted, plain rasa run dashed."""
    setup = target.partition(" / ")[0]
    return "--" if setup == PLAIN else ":" if is_floor(setup) else "-"


def draw_plots(results: dict[str, Any], out: Path) -> list[str]:
    """Throughput and p95 latency against concurrency, and memory per process; return the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in results.get("runs", []) if r["kind"] == "all"]
    targets = list(dict.fromkeys(r["target"] for r in runs))
    names = []
    for key, title, file, log in (("msg_per_s", "messages per second", "load_throughput.png", False),
                                  ("p95", "p95 latency (ms)", "load_p95.png", True)):  # fmt: skip
        fig, ax = plt.subplots(figsize=(8, 5))
        for target in targets:
            points = sorted((r["concurrency"], r[key]) for r in runs if r["target"] == target and r[key] is not None)
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=target, linestyle=_line_style(target))
        ax.set_xscale("log", base=2)
        levels = sorted({r["concurrency"] for r in runs})
        ax.set_xticks(levels)
        ax.set_xticklabels([str(level) for level in levels])
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("concurrent conversations")
        ax.set_ylabel(title)
        ax.set_title(title + " (closed loop)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / file, dpi=90)
        plt.close(fig)
        names.append(file)
    setups = results.get("setups", {})
    if setups:
        bars = [(f"{n}: {p}", v, setups[n].get("peak_memory", {}).get(p, v))
                for n in setups for p, v in setups[n].get("idle_memory", {}).items()]  # fmt: skip
        fig, ax = plt.subplots(figsize=(8, max(3, 0.35 * len(bars))))
        ax.barh([b[0] for b in bars], [b[2] for b in bars], color="#f4b183", label="peak")
        ax.barh([b[0] for b in bars], [b[1] for b in bars], color="#5b9bd5", label="idle")
        ax.axvline(1.6 * 1024, color="red", linestyle=":", label="1.6 GB target (rasa)")
        ax.set_xlabel("resident memory (MB)")
        ax.invert_yaxis()
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "memory.png", dpi=90)
        plt.close(fig)
        names.append("memory.png")
    return names
