"""The `make run` supervisor: a crashed child is started again with backoff, the others untouched; Ctrl-C stops all."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from bot.runtime.processes import (
    CRASH_LOOP,
    MAX_RESTART_DELAY_SECONDS,
    STABLE_SECONDS,
    Child,
    Supervisor,
    restart_delay,
)

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeProcess:
    """A child process whose exit the test decides."""

    def __init__(self) -> None:
        self.code: int | None = None

    def poll(self) -> int | None:
        return self.code


def supervised(*names: str) -> tuple[Supervisor, Clock, list[str]]:
    clock, launched = Clock(), []

    def launch(child: Child) -> None:
        launched.append(child.name)
        child.process = FakeProcess()  # type: ignore[assignment]

    supervisor = Supervisor([Child(name, ["true"], "http://x/") for name in names], launch, clock)
    for child in supervisor.children:
        supervisor.start(child)
    launched.clear()
    return supervisor, clock, launched


def crash(supervisor: Supervisor, name: str, code: int = -9) -> Child:
    child = next(c for c in supervisor.children if c.name == name)
    child.process.code = code  # type: ignore[union-attr]
    return child


def test_a_crashed_child_is_started_again_after_a_pause_and_the_others_are_left_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor, clock, launched = supervised("action server", "rasa server", "console")
    others = [c.process for c in supervisor.children if c.name != "action server"]
    action = crash(supervisor, "action server")
    with caplog.at_level(logging.WARNING, "bot.runtime.processes"):
        supervisor.watch_once()
        assert launched == []  # not at once: a child crashing at start-up must not spin
        clock.now += restart_delay(1)
        supervisor.watch_once()
    assert launched == ["action server"] and action.restarts == 1 and action.process.poll() is None  # type: ignore[union-attr]
    assert [c.process for c in supervisor.children if c.name != "action server"] == others
    assert "action server stopped (exit code -9)" in caplog.text and "restart 1" in caplog.text


def test_a_child_crashing_in_a_loop_waits_longer_each_time_up_to_a_bound_and_is_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor, clock, launched = supervised("console")
    delays = []
    with caplog.at_level(logging.WARNING, "bot.runtime.processes"):
        for _ in range(CRASH_LOOP + 4):
            child = crash(supervisor, "console")
            supervisor.watch_once()
            delays.append(child.restart_at - clock.now)  # type: ignore[operator]
            clock.now = child.restart_at  # type: ignore[assignment]
            supervisor.watch_once()
    assert delays == sorted(delays) and delays[0] < delays[3] and max(delays) == MAX_RESTART_DELAY_SECONDS
    assert len(launched) == CRASH_LOOP + 4  # never given up
    loud = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert loud and "keeps crashing" in loud[0].getMessage() and len(loud) == 5


def test_a_child_that_ran_for_a_while_before_crashing_is_restarted_quickly_again() -> None:
    supervisor, clock, _ = supervised("rasa server")
    for _ in range(4):
        child = crash(supervisor, "rasa server")
        supervisor.watch_once()
        clock.now = child.restart_at  # type: ignore[assignment]
        supervisor.watch_once()
    clock.now += STABLE_SECONDS
    crash(supervisor, "rasa server")
    supervisor.watch_once()
    assert child.crashes_in_a_row == 1 and child.restart_at == clock.now + restart_delay(1)


def test_the_supervisor_restarts_a_real_process_that_died() -> None:
    clock = Clock()
    child = Child("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], "http://x/")

    def launch(c: Child) -> None:
        c.process = subprocess.Popen(c.command)  # noqa: S603 - fixed command

    supervisor = Supervisor([child], launch, clock)
    supervisor.start(child)
    first = child.process
    try:
        first.kill()  # type: ignore[union-attr]
        first.wait(timeout=10)  # type: ignore[union-attr]
        supervisor.watch_once()
        clock.now += restart_delay(1)
        supervisor.watch_once()
        assert child.process is not first and child.process.poll() is None  # type: ignore[union-attr]
    finally:
        child.process.kill()  # type: ignore[union-attr]
        child.process.wait(timeout=10)  # type: ignore[union-attr]
