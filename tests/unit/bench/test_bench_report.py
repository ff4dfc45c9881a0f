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
            run("plain rasa run / model/parse", 1, p50=8.0),
            run("plain rasa run / REST", 1, p50=15.0, msg_per_s=50.0),
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


def test_the_plain_floor_stands_beside_each_setup_not_as_a_target() -> None:
    setups = dict(results()["setups"])
    setups["plain rasa run"] = {"ready_seconds": 58.4, "idle_memory": {"rasa server": 2054.0}, "notes": []}
    checks = {c["target"]: c for c in check_targets(results(setups=setups))}

    assert not any("plain rasa run" in target for target in checks)  # the floor has no goal of its own
    assert checks["ready to answer (embedded)"]["measured"] == "21.0 s (plain rasa run: 58.4 s)"
    assert checks["rasa idle memory (embedded)"]["measured"].endswith("(plain rasa run: 2.01 GB)")
    assert checks["rasa idle memory (embedded)"]["met"] is True
    with_floor = results(runs=[*results()["runs"], run("plain rasa run / REST", 16, msg_per_s=58.0, p95=550.0)])
    sixteen = {c["target"]: c for c in check_targets(with_floor)}["16 conversations, production (REST)"]
    assert sixteen["measured"].endswith("(plain rasa run REST: 58.0 msg/s, p95 550.0 ms)") and sixteen["met"] is True


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
    assert "×0.50" in row  # 25 msg/s against the plain REST channel's 50
    assert "×2.00" in row  # p50 30 ms against 15 ms
    for picture in ("load_throughput.png", "load_p95.png", "memory.png"):
        assert (tmp_path / picture).stat().st_size > 0
        assert f"({picture})" in text
    saved = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    assert saved["targets"] and saved["runs"][0]["target"] == "plain rasa run / model/parse"


def test_the_machine_speed_before_each_phase_is_reported(tmp_path: Path) -> None:
    probes = [{"phase": "floors", "ms": 100.0}, {"phase": "embedded", "ms": 210.0}, {"phase": "end", "ms": 105.0}]
    text = write(results(cpu_probes=probes), tmp_path).read_text()
    assert "floors 100 ms (×1.00), embedded 210 ms (×2.10), end 105 ms (×1.05)" in text
    assert "Machine speed" not in write(results(), tmp_path / "without").read_text()


def test_the_speed_probe_times_a_real_workload() -> None:
    from bench.servers import cpu_probe_ms

    first, second = cpu_probe_ms(rounds=1), cpu_probe_ms(rounds=1)
    assert 1.0 < first < 10_000 and 1.0 < second < 10_000


def with_both_floors() -> dict[str, Any]:
    """A full run's figures: Guichet, its setups with the speed-ups off at the headline rows, and plain rasa run."""
    from bench.floors import described

    off = "(speed-ups off)"
    runs = [
        run("plain rasa run / model/parse", 1, p50=8.0),
        run("plain rasa run / REST", 1, p50=15.0, msg_per_s=50.0),
        run("plain rasa run / REST", 1, "catalog", p50=18.0, p95=25.0),
        run("plain rasa run / REST", 16, msg_per_s=54.0, p95=520.0),
        run("embedded / REST", 1, p50=13.0, msg_per_s=68.0),
        run("embedded / REST", 1, "catalog", p50=12.0, p95=15.0),
        run(f"embedded {off} / REST", 1, p50=26.0, msg_per_s=34.0),
        run(f"embedded {off} / REST", 1, "catalog", p50=30.0, p95=40.0),
        run("production / REST", 1, "catalog", p50=17.0, p95=20.0),
        run(f"production {off} / REST", 1, "catalog", p50=40.0, p95=60.0),
        run("production / REST", 16, msg_per_s=105.0, p95=240.0),
        run(f"production {off} / REST", 16, msg_per_s=52.5, p95=480.0),
        run("production / web chat", 16, msg_per_s=95.0, p95=240.0),
        run(f"production {off} / web chat", 16, msg_per_s=47.5, p95=500.0),
    ]

    def setup(ready: float, **rasa: float) -> dict[str, Any]:
        memory = {name.replace("_", " ").replace("2", "#2"): mb for name, mb in rasa.items()}
        return {"ready_seconds": ready, "idle_memory": {**memory, "console": 70.0}, "notes": []}

    setups = {
        "plain rasa run": setup(43.0, rasa_server=2036.0),
        "embedded": setup(11.6, rasa_server=1447.0),
        f"embedded {off}": setup(45.0, rasa_server=2000.0),
        "production": setup(13.0, rasa_server=563.0, rasa_server_worker=1241.0, rasa_server_worker_2=1249.0),
        f"production {off}": setup(60.0, rasa_server=560.0, rasa_server_worker=2048.0, rasa_server_worker_2=2040.0),
    }
    return results(quick=False, runs=runs, setups=setups, options={"levels": [1, 4, 16, 32]},
                   floors=described(["embedded", "production"], (1, 4, 16, 32), off_floor=True))  # fmt: skip


def test_the_headlines_put_guichet_beside_its_speedups_off_and_plain_rasa_with_ratios() -> None:
    from bench.report import headlines

    rows = {row["measurement"]: row for row in headlines(with_both_floors())}

    catalog = rows["catalog turn p50, 1 conversation, REST (embedded)"]
    assert (catalog["guichet"], catalog["speedups_off"], catalog["plain"]) == (12.0, 30.0, 18.0)
    assert (catalog["guichet_vs_speedups_off"], catalog["guichet_vs_plain"]) == (0.4, 0.67)
    rest = rows["16 conversations, REST, throughput (production)"]
    assert (rest["guichet_vs_speedups_off"], rest["guichet_vs_plain"]) == (2.0, 1.94)
    webchat = rows["16 conversations, web chat, p95 (production)"]
    assert (webchat["guichet"], webchat["speedups_off"], webchat["plain"]) == (240.0, 500.0, None)  # REST only there
    ready = rows["ready to answer (embedded)"]
    assert (ready["guichet"], ready["speedups_off"], ready["plain"]) == (11.6, 45.0, 43.0)
    memory = rows["idle memory, largest rasa process (production)"]
    assert (memory["guichet"], memory["speedups_off"], memory["plain"]) == (1.22, 2.0, 1.99)
    assert not any("conversations" in name and "(embedded)" in name for name in rows)  # no throughput target there


def test_the_targets_show_each_figure_with_the_speedups_off_and_plain_rasa_beside() -> None:
    checks = {c["target"]: c for c in check_targets(with_both_floors())}

    assert checks["one conversation, catalog turn (embedded, REST)"]["measured"] == (
        "p50 12.0 ms, p95 15.0 ms (speed-ups off: p50 30.0 ms, p95 40.0 ms)"
    )
    assert checks["16 conversations, production (web chat)"]["measured"] == (
        "95.0 msg/s, p95 240.0 ms, 0 errors (speed-ups off: 47.5 msg/s, p95 500.0 ms; "
        "plain rasa run REST: 54.0 msg/s, p95 520.0 ms)"
    )
    ready, memory = checks["ready to answer (production)"], checks["rasa idle memory (embedded)"]
    assert ready["measured"] == "13.0 s (speed-ups off: 60.0 s; plain rasa run: 43.0 s)"
    assert memory["measured"].endswith("(speed-ups off: 1.95 GB; plain rasa run: 1.99 GB)")
    assert not any("speed-ups off" in target for target in checks)  # a floor has no goal of its own


def test_the_report_says_what_each_floor_is_and_sets_the_three_side_by_side(tmp_path: Path) -> None:
    text = write(with_both_floors(), tmp_path).read_text(encoding="utf-8")

    beside = text[text.index("## Guichet beside its floors") : text.index("## NLU")]
    assert "- **speed-ups off**: Guichet with RASA_SPEEDUPS=off" in beside
    assert "- **plain rasa run**: Rasa's own `rasa run`" in beside
    assert "Measured: the headline rows only (embedded: REST × 1; production: REST × 1, REST × 16" in beside
    side_by_side = (
        "| catalog turn p50, 1 conversation, REST (embedded) | 12.0 ms | 30.0 ms | ×0.40 | 18.0 ms | ×0.67 |",
        "| 16 conversations, web chat, throughput (production) | 95.0 msg/s | 47.5 msg/s | ×2.00 | – | – |",
    )
    assert set(side_by_side) <= set(beside.splitlines())
    load = next(line for line in text.splitlines() if line.startswith("| embedded / REST | 1 |"))
    assert load.rstrip(" |").split(" | ")[8:] == ["×2.00", "×0.50", "×1.36", "×0.87", "×1.62"]  # off, plain, parse
    saved = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    assert [f["floor"] for f in saved["floors"]] == ["speed-ups off", "plain rasa run"]
    assert {row["measurement"] for row in saved["headlines"]} >= {"ready to answer (production)"}


def test_the_load_table_shows_the_unavailable_turns_of_each_level(tmp_path: Path) -> None:
    figures = results()
    figures["runs"] += [run("embedded / REST", 16, unavailable=0), run("embedded / REST", 32, unavailable=3)]
    text = write(figures, tmp_path).read_text(encoding="utf-8")
    header = next(line for line in text.splitlines() if line.startswith("| target | conversations | msg/s"))
    column = header.split(" | ").index("« indisponible »")
    rows = {
        line.split(" | ")[1]: line.split(" | ") for line in text.splitlines() if line.startswith("| embedded / REST | ")
    }
    assert (rows["16"][column], rows["32"][column]) == ("0", "3")
