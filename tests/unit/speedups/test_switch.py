"""One switch, RASA_SPEEDUPS: every replacement of a Rasa internal installed together, or none at all."""

from __future__ import annotations

import ast
import logging
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
import rasa.__main__

from bot import speedups
from bot.runtime import server, stories
from bot.settings import ROOT, get_settings
from bot.speedups._patching import replaced


def attributes(modules: tuple[ModuleType, ...]) -> dict[str, Any]:
    """The raw attribute behind every target these speed-ups declare, as it is now."""
    found: dict[str, Any] = {}
    for module in modules:
        for target in module.TARGETS:
            owner_path, _, name = target.rpartition(".")
            module_path, _, class_name = owner_path.rpartition(".")
            try:
                owner = getattr(sys.modules[module_path], class_name)
            except (KeyError, AttributeError):
                owner = sys.modules[owner_path]
            found[target] = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name)
    return found


@pytest.fixture
def clean() -> Iterator[None]:
    yield
    speedups.uninstall_all()


@pytest.mark.parametrize("kind", [speedups.server_speedups, speedups.training_speedups])
def test_each_module_replaces_exactly_what_it_declares(clean: None, kind: Callable[[], tuple[ModuleType, ...]]) -> None:
    modules = kind()
    before = attributes(modules)
    assert speedups.install_all(True, modules)
    assert speedups.active()
    for module in modules:
        assert sorted(r.target for r in replaced(module.__name__)) == sorted(module.TARGETS), module.__name__
    assert all(attributes(modules)[target] is not raw for target, raw in before.items())
    speedups.uninstall_all()
    assert attributes(modules) == before
    assert not speedups.active() and replaced() == []


def test_off_installs_nothing(clean: None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bot.speedups"):
        assert not speedups.install_all(False, speedups.server_speedups())
    assert replaced() == [] and not speedups.active()
    assert "speed-ups off" in caplog.text


def test_another_rasa_version_is_refused_with_a_clear_line(clean: None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.speedups"):
        assert not speedups.install_all(True, speedups.server_speedups(), version="3.7.0")
    assert replaced() == [] and not speedups.active()
    assert "written for Rasa 3.6.21 and this is Rasa 3.7.0" in caplog.text


def test_the_installed_rasa_is_the_one_they_were_written_for() -> None:
    assert speedups.rasa_version() == speedups.RASA_VERSION


@pytest.fixture
def rasa_main(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], dict[str, Any]]]:
    """Run an entry point's `main` with RASA_SPEEDUPS set, Rasa's own main replaced by a recorder."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr(rasa.__main__, "main", lambda: seen.update(argv=list(sys.argv), active=speedups.active()))
    monkeypatch.setattr(sys, "argv", list(sys.argv))

    def run(value: str) -> dict[str, Any]:
        monkeypatch.setenv("RASA_SPEEDUPS", value)
        get_settings.cache_clear()
        return seen

    yield run
    speedups.uninstall_all()
    get_settings.cache_clear()


@pytest.mark.parametrize(("value", "active"), [("on", True), ("off", False)])
def test_the_server_follows_the_switch_and_is_hardened_either_way(
    rasa_main: Callable[[str], dict[str, Any]], value: str, active: bool
) -> None:
    import rasa.core.agent as agent_module

    seen = rasa_main(value)
    server.main(["run", "--port", "5005"])
    assert seen == {"argv": ["rasa", "run", "--port", "5005"], "active": active}
    assert getattr(agent_module.load_agent, "guichet_hardened", False)


@pytest.mark.parametrize(("value", "active"), [("on", True), ("off", False)])
def test_the_test_stories_follow_the_switch(
    rasa_main: Callable[[str], dict[str, Any]], value: str, active: bool
) -> None:
    seen = rasa_main(value)
    stories.main(["--stories", "tests"])
    assert seen == {"argv": ["rasa", "test", "core", "--stories", "tests"], "active": active}


def test_importing_a_speed_up_replaces_nothing() -> None:
    code = (
        "import importlib, pkgutil, bot.speedups as s\n"
        "for m in pkgutil.iter_modules(s.__path__): importlib.import_module('bot.speedups.' + m.name)\n"
        "from bot.speedups._patching import replaced\n"
        "import bot.runtime.components.nonsense_guard, bot.runtime.components.lean_spacy\n"
        "import bot.runtime.components.policies, bot.runtime.stores.tracker_store\n"
        "print(replaced())"
    )
    import subprocess

    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_nothing_outside_bot_speedups_defines_an_install() -> None:
    found = []
    for path in (ROOT / "bot").rglob("*.py"):
        if "speedups" in path.relative_to(ROOT).parts:
            continue
        tree = ast.parse(path.read_text())
        found += [f"{path.relative_to(ROOT)}:{node.name}" for node in ast.walk(tree)
                  if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                  and node.name.startswith("install")]  # fmt: skip
    assert found == []
