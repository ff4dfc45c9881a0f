"""Where the time of a turn goes: py-spy samples the rasa server (and the action server) while one citizen loops.

py-spy (`pip install py-spy==0.4.0`) attaches to running processes from outside, so the servers run exactly as in
production. Its raw output (one collapsed stack per line with a sample count) is summarised by component
(NLU featurizers and classifier, dialogue policies, tracker store, action call, channel...) and by function.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# The first matching rule names the component a sample is spent in (checked from the innermost frame outwards).
COMPONENTS: tuple[tuple[str, str], ...] = (
    ("jsonschema", "checking the action server's answer (jsonschema)"),
    ("tracker_store.py", "tracker store (SQL)"),
    ("sqlalchemy", "tracker store (SQL)"),
    ("lock_store.py", "lock store"),
    ("redis/", "lock store"),
    ("rasa/core/actions/action.py", "running actions (custom: HTTP call to the action server)"),
    ("aiohttp", "running actions (custom: HTTP call to the action server)"),
    ("spacy", "NLU: spaCy"),
    ("thinc", "NLU: spaCy"),
    ("diet_classifier", "NLU: DIET"),
    ("rasa/nlu/featurizers", "NLU: other featurizers"),
    ("rasa/nlu", "NLU: other"),
    ("ted_policy", "dialogue: TED"),
    ("rasa/core/policies", "dialogue: rules and memoization"),
    ("tensorflow", "TensorFlow (DIET/TED)"),
    ("rasa/shared/core/trackers.py", "tracker replay (events to state)"),
    ("rasa/shared/core", "dialogue state (domain, events)"),
    ("rasa/core/processor.py", "message processing"),
    ("bot/town/catalog", "catalog (matching, opening hours)"),
    ("bot/town/tickets", "tickets"),
    ("actions/", "actions (rasa-sdk)"),
    ("rasa_sdk", "actions (rasa-sdk)"),
    ("connectors/", "channels"),
    ("rasa/core/channels", "channels"),
    ("sanic", "HTTP server (Sanic)"),
    ("json", "JSON"),
)


# Innermost frames of a thread that is waiting, not working (py-spy cannot always tell: uvloop and the thread pool
# wait in C). Their samples are left out, so the shares are shares of busy time.
IDLE_FRAMES: tuple[str, ...] = (
    "serve (sanic/server/runners.py",
    "_worker (concurrent/futures/thread.py",
    "select (selectors.py",
    "wait (threading.py",
    "run_forever (asyncio/base_events.py",
)


@dataclass
class Profile:
    """Shares of the sampled time, by component and by function."""

    process: str
    samples: int
    components: list[tuple[str, float]] = field(default_factory=list)
    functions: list[tuple[str, float]] = field(default_factory=list)


def py_spy() -> str | None:
    """The py-spy executable next to this Python, or on the PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(pid: int, seconds: float, out: Path, rate: int = 200) -> subprocess.Popen[bytes] | None:
    """Start sampling `pid` (and its forked children) for `seconds` into `out` (raw collapsed stacks)."""
    executable = py_spy()
    if executable is None:
        return None
    command = [executable, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate),
               "--format", "raw", "--output", str(out), "--subprocesses", "--nonblocking"]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603


def component_of(frames: list[str]) -> str:
    """The component a stack is spent in, judged from the innermost frame outwards."""
    for frame in reversed(frames):
        for needle, name in COMPONENTS:
            if needle in frame:
                return name
    return "other (asyncio, Python runtime)"


def summarise(process: str, raw: str, top: int = 15) -> Profile:
    """Turn py-spy's raw output into shares of busy time by component and by (inclusive) function."""
    by_component: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames or any(idle in frames[-1] for idle in IDLE_FRAMES):
            continue
        total += count
        by_component[component_of(frames)] += count
        for name in {_short(f) for f in frames}:
            by_function[name] += count
    share = (lambda n: round(100 * n / total, 1)) if total else (lambda n: 0.0)
    interesting = [(f, share(n)) for f, n in by_function.most_common() if _is_interesting(f)][:top]
    return Profile(process, total, [(c, share(n)) for c, n in by_component.most_common()], interesting)


def _short(frame: str) -> str:
    """`handle_message (rasa/core/processor.py:123)` -> `handle_message (rasa/core/processor.py)`."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def _is_interesting(function: str) -> bool:
    """Functions worth naming: the project's and Rasa's, not the event loop's plumbing."""
    return any(part in function for part in ("rasa/", "rasa_sdk/", "bot/", "actions/", "connectors/", "sqlalchemy/"))
