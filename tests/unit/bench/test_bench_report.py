"""The benchmark report: targets judged from the figures, every figure beside its floor, plots written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.report import check_targets, ratio, write


def run(target: str, concurrency: int, kind: str = "all", **figures: Any) -> dict[str, Any]:
    base = {"target": target, "concurrency": concurrency, "kind": kind, "messages": 100, "errors": 0,
            "seconds": 10.0, "msg_per_s": 10.0, "p50": 20.0, "p95": 50.0, "p99": 70.0, "mean": 25.0}  # fmt: skip
    return {**base, **figures}


def results(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "started": "2026-11-28T22:00:00+00:00",
        "command": "python -m bench --quick",
        "quick": True,
        "host": {"cpus": 2, "load_before": "0.1 0.2 0.3"},
        "model": "guichet.tar.gz",
        "model_mb": 26.3,
        "script": [{"text": "bonjour", "kind": "rule"}],
        "runs": [
            run("bare rasa / model/parse", 1, p50=8.0),
            run("bare rasa / REST", 1, p50=15.0, msg_per_s=50.0),
            run("embedded / REST", 1, p50=30.0, msg_per_s=25.0),
            run("embedded / REST", 1, "catalog", p50=35.0, p95=70.0),
            run("production / REST", 16, msg_per_s=95.0, p95=390.0),
            run("production / web chat", 16, msg_per_s=80.0, p95=390.0),
        ],
        "setups": {
            "embedded": {
                "ready_seconds": 21.0,
                "idle_memory": {"rasa server": 1200.0, "console": 60.0},
                "peak_memory": {"rasa server": 1300.0},
                "notes": [],
            }
        },  # fmt: skip
        "training": {"seconds": 250.0, "model_mb": 26.3},
    }
    base.update(overrides)
    return base


def verdicts(checks: list[dict[str, Any]]) -> dict[str, bool | None]:
    return {c["target"]: c["met"] for c in checks}


def test_targets_are_judged_from_the_measured_figures() -> None:
    checks = verdicts(check_targets(results()))

    assert checks["one conversation, catalog turn (embedded, REST)"] is True
    assert checks["16 conversations, production (REST)"] is True
    assert checks["16 conversations, production (web chat)"] is False  # 80 msg/s < 90
    assert checks["ready to answer (embedded)"] is True
    assert checks["rasa idle memory (embedded)"] is True
    assert checks["full training"] is False  # 250 s > 240 s


def test_the_bare_floor_stands_beside_each_setup_not_as_a_target() -> None:
    setups = dict(results()["setups"])
    setups["bare rasa"] = {"ready_seconds": 58.4, "idle_memory": {"rasa server": 2054.0}, "notes": []}
    checks = {c["target"]: c for c in check_targets(results(setups=setups))}

    assert not any("bare rasa" in target for target in checks)  # the floor has no goal of its own
    assert checks["ready to answer (embedded)"]["measured"] == "21.0 s (bare rasa: 58.4 s)"
    assert checks["rasa idle memory (embedded)"]["measured"].endswith("(bare rasa: 2.01 GB)")
    assert checks["rasa idle memory (embedded)"]["met"] is True
    with_floor = results(runs=[*results()["runs"], run("bare rasa / REST", 16, msg_per_s=58.0, p95=550.0)])
    sixteen = {c["target"]: c for c in check_targets(with_floor)}["16 conversations, production (REST)"]
    assert sixteen["measured"].endswith("(bare rasa REST: 58.0 msg/s, p95 550.0 ms)") and sixteen["met"] is True


def test_a_target_that_was_not_measured_says_so_rather_than_passing() -> None:
    checks = verdicts(check_targets(results(runs=[], training=None)))
    assert checks["one conversation, catalog turn (production, REST)"] is None
    assert checks["full training"] is None


def test_a_single_error_fails_the_sixteen_conversation_target() -> None:
    failing = results(runs=[run("production / REST", 16, msg_per_s=120.0, p95=100.0, errors=1)])
    assert verdicts(check_targets(failing))["16 conversations, production (REST)"] is False


@pytest.mark.parametrize(("value", "floor", "expected"), [(30.0, 15.0, "×2.00"), (None, 15.0, "–"), (3.0, 0.0, "–")])
def test_ratios_to_the_floor(value: float | None, floor: float | None, expected: str) -> None:
    assert ratio(value, floor) == expected


def test_the_report_puts_each_figure_next_to_its_floor_and_draws_the_plots(tmp_path: Path) -> None:
    path = write(results(), tmp_path)

    text = path.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| embedded / REST | 1 |"))
    assert "×0.50" in row  # 25 msg/s against the bare REST channel's 50
    assert "×2.00" in row  # p50 30 ms against 15 ms
    for picture in ("load_throughput.png", "load_p95.png", "memory.png"):
        assert (tmp_path / picture).stat().st_size > 0
        assert f"({picture})" in text
    saved = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    assert saved["targets"] and saved["runs"][0]["target"] == "bare rasa / model/parse"


def test_the_machine_speed_before_each_phase_is_reported(tmp_path: Path) -> None:
    probes = [{"phase": "floors", "ms": 100.0}, {"phase": "embedded", "ms": 210.0}, {"phase": "end", "ms": 105.0}]
    text = write(results(cpu_probes=probes), tmp_path).read_text()
    assert "floors 100 ms (×1.00), embedded 210 ms (×2.10), end 105 ms (×1.05)" in text
    assert "Machine speed" not in write(results(), tmp_path / "without").read_text()


def test_the_speed_probe_times_a_real_workload() -> None:
    from bench.servers import cpu_probe_ms

    first, second = cpu_probe_ms(rounds=1), cpu_probe_ms(rounds=1)
    assert 1.0 < first < 10_000 and 1.0 < second < 10_000
