"""The mechanics every speed-up shares: replace once, keep Rasa's original, mark, log, undo."""

from __future__ import annotations

import logging
import types
from typing import Any

import pytest

from bot.speedups import _patching
from bot.speedups._patching import MARK, is_replaced, original, replace, replaced, undo


class Base:
    def method(self) -> str:
        return "base"

    @staticmethod
    def static(x: int) -> int:
        return x + 1

    @classmethod
    def build(cls) -> str:
        return cls.__name__


class Child(Base):
    def own(self) -> str:
        return "own"


@pytest.fixture(autouse=True)
def clean() -> Any:
    yield
    undo("tests.patching")
    assert not replaced("tests.patching")


def test_a_method_is_replaced_with_access_to_rasas_own(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bot.speedups"):
        assert replace(Child, "own", lambda rasa: lambda self: rasa(self) + "+fast", by="tests.patching")
    assert Child().own() == "own+fast"
    assert getattr(Child.own, MARK) == "tests.patching"
    assert original(Child, "own")(Child()) == "own"
    assert is_replaced(Child, "own")
    assert "tests.patching replaces tests.unit.speedups.test_patching.Child.own" in caplog.text


def test_replacing_twice_keeps_the_first_replacement() -> None:
    replace(Child, "own", lambda rasa: lambda self: "first", by="tests.patching")
    assert not replace(Child, "own", lambda rasa: lambda self: "second", by="tests.patching")
    assert Child().own() == "first"
    assert len(replaced("tests.patching")) == 1


def test_static_and_class_methods_stay_what_they_were() -> None:
    replace(Base, "static", lambda rasa: lambda x: rasa(x) * 10, by="tests.patching")
    replace(Base, "build", lambda rasa: lambda cls: "built " + rasa(cls), by="tests.patching")
    assert isinstance(Base.__dict__["static"], staticmethod)
    assert isinstance(Base.__dict__["build"], classmethod)
    assert Base.static(1) == 20 and Child.static(2) == 30
    assert Child.build() == "built Child"
    assert original(Base, "static")(1) == 2


def test_undo_puts_back_exactly_what_was_there() -> None:
    before = {name: Base.__dict__[name] for name in ("method", "static", "build")}
    replace(Base, "method", lambda rasa: lambda self: "fast", by="tests.patching")
    replace(Base, "static", lambda rasa: lambda x: 0, by="tests.patching")
    replace(Base, "build", lambda rasa: lambda cls: "", by="tests.patching")
    undo("tests.patching")
    assert {name: Base.__dict__[name] for name in before} == before
    assert not is_replaced(Base, "method")


def test_an_inherited_attribute_is_replaced_on_the_subclass_and_undone_by_deletion() -> None:
    replace(Child, "method", lambda rasa: lambda self: "child " + rasa(self), by="tests.patching")
    assert Child().method() == "child base" and Base().method() == "base"
    assert original(Child, "method")(Child()) == "base"
    undo("tests.patching")
    assert "method" not in Child.__dict__ and Child().method() == "base"


def test_module_attributes_too() -> None:
    module = types.ModuleType("fake_module")
    module.compile = lambda pattern: f"compiled {pattern}"  # type: ignore[attr-defined]
    replace(module, "compile", lambda python: lambda pattern: "cached " + python(pattern), by="tests.patching")
    assert module.compile("x") == "cached compiled x"  # type: ignore[attr-defined]
    undo("tests.patching")
    assert module.compile("x") == "compiled x"  # type: ignore[attr-defined]


def test_undo_of_one_speed_up_leaves_the_others() -> None:
    replace(Child, "own", lambda rasa: lambda self: "a", by="tests.patching")
    replace(Child, "method", lambda rasa: lambda self: "b", by="tests.patching.other")
    try:
        undo("tests.patching")
        assert Child().own() == "own" and Child().method() == "b"
    finally:
        undo("tests.patching.other")
    assert _patching.replaced() == [r for r in _patching.replaced() if not r.by.startswith("tests.")]
