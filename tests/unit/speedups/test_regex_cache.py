"""Giant patterns restored from the regex cache (bot/speedups/regex_cache.py) match exactly as freshly compiled ones."""

from __future__ import annotations

import random
import re
import sre_compile
from pathlib import Path

from bot import speedups
from bot.speedups import regex_cache
from bot.speedups.regex_cache import GIANT_PATTERN_CHARS, cache_file, compile_cached

WORDS = [f"mot{n}-compose" for n in range(12_000)]
ALTERNATIVES = (f"(?P<w{n}>{re.escape(w)})" if n < 50 else re.escape(w) for n, w in enumerate(WORDS))
GIANT = "(?iu)^(?:" + "|".join(ALTERNATIVES) + ")$"
PROBES = ["mot17-compose", "MOT11999-COMPOSE", "mot12000-compose", "mot5-composé", "", "mot0-compose "]


def test_a_giant_pattern_is_compiled_once_then_restored_identically(tmp_path: Path) -> None:
    assert len(GIANT) > GIANT_PATTERN_CHARS
    fresh = speedups.original(sre_compile, "compile")(GIANT, 0)
    first = compile_cached(GIANT, 0, tmp_path)
    assert cache_file(GIANT, 0, tmp_path).is_file()
    restored = compile_cached(GIANT, 0, tmp_path)
    for compiled in (first, restored):
        assert (compiled.pattern, compiled.flags, compiled.groups, compiled.groupindex) == (
            fresh.pattern, fresh.flags, fresh.groups, fresh.groupindex)  # fmt: skip
        for probe in PROBES + random.Random(7).sample(WORDS, 50):
            expected, actual = fresh.match(probe), compiled.match(probe)
            assert (actual and (actual.span(), actual.lastgroup)) == (
                expected and (expected.span(), expected.lastgroup))  # fmt: skip


def test_a_damaged_cache_file_is_compiled_again(tmp_path: Path) -> None:
    path = cache_file(GIANT, re.IGNORECASE, tmp_path)
    path.write_bytes(b"\x00not marshal data")
    compiled = compile_cached(GIANT, re.IGNORECASE, tmp_path)
    assert compiled.match("MOT42-COMPOSE") and not compiled.match("mot42")
    assert compile_cached(GIANT, re.IGNORECASE, tmp_path).match("mot42-compose")  # and the file was rewritten


def test_ordinary_patterns_never_touch_the_cache(tmp_path: Path) -> None:
    assert compile_cached(r"\d{5}", 0, tmp_path).match("64000")
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_cache_only_costs_time(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    assert compile_cached(GIANT, 0, blocked / "cache").match("mot3-compose")


def test_installed_re_compile_goes_through_the_cache_and_undo_restores_python() -> None:
    python_compile = sre_compile.compile
    with speedups.installed(regex_cache):
        assert sre_compile.compile is compile_cached
        assert re.compile(r"\w+ ponts?").match("deux ponts")  # a small pattern: Python's own compile
    assert sre_compile.compile is python_compile
