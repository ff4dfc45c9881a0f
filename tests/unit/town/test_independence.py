"""The town's domain (`bot/town/`) is plain Python: it imports no Rasa, rasa-sdk, Sanic, TensorFlow or spaCy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from bot.settings import ROOT

TOWN = ROOT / "bot" / "town"
FORBIDDEN = ("rasa", "rasa_sdk", "sanic", "tensorflow", "spacy")


def imported_modules(path: Path) -> set[str]:
    """Every module a Python file imports, at any depth of its code (absolute names)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def is_forbidden(module: str) -> bool:
    return module.split(".")[0] in FORBIDDEN


def test_no_file_of_the_town_imports_a_framework() -> None:
    files = sorted(TOWN.rglob("*.py"))
    assert len(files) > 20  # the whole domain is looked at
    offenders = {str(f.relative_to(ROOT)): sorted(m for m in imported_modules(f) if is_forbidden(m)) for f in files}
    assert {f: m for f, m in offenders.items() if m} == {}


def test_the_check_sees_an_import_hidden_in_a_function(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from rasa.core.agent import Agent\n    import spacy.tokens\n")
    assert sorted(m for m in imported_modules(sample) if is_forbidden(m)) == ["rasa.core.agent", "spacy.tokens"]


def test_importing_the_whole_town_loads_no_framework() -> None:
    modules = sorted(
        ".".join(f.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__") for f in TOWN.rglob("*.py")
    )
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
