"""`python -m bot.runtime.train`: rasa's own command line, with the training speed-ups installed."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest
import rasa.__main__
from rasa.utils.tensorflow.data_generator import RasaDataGenerator

from bot.runtime import train as rasa_train

from bot.speedups import fast_batches
from bot.settings import ROOT


def test_main_installs_the_speed_ups_and_hands_rasa_its_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}
    monkeypatch.setattr(rasa.__main__, "main", lambda: seen.update(argv=list(sys.argv), gc=gc.get_threshold()))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    thresholds = gc.get_threshold()
    try:
        rasa_train.main(["train", "--config", "config.yml"])
    finally:
        gc.set_threshold(*thresholds)
    assert seen == {"argv": ["rasa", "train", "--config", "config.yml"], "gc": rasa_train.GC_THRESHOLDS}
    assert RasaDataGenerator._scipy_matrix_to_values is fast_batches.scipy_matrix_to_values


def test_the_process_leaves_with_its_output_written(tmp_path: Path) -> None:
    """`leave_at_once` skips the interpreter's teardown: what rasa printed must still be there, and exit code 0."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bot.runtime.train", "--version"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Rasa Version" in result.stdout
