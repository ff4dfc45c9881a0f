"""`python -m bot.runtime.train`: rasa's own command line, with the training speed-ups installed."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import rasa.__main__
from rasa.utils.tensorflow.data_generator import RasaDataGenerator

from bot import speedups
from bot.runtime import train as rasa_train
from bot.settings import ROOT, get_settings
from bot.speedups import fast_batches


@pytest.fixture
def switch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Set RASA_SPEEDUPS for `main`; whatever it installed is put back afterwards, with the GC's thresholds."""
    thresholds = gc.get_threshold()

    def set_to(value: str) -> None:
        monkeypatch.setenv("RASA_SPEEDUPS", value)
        get_settings.cache_clear()

    monkeypatch.setattr(sys, "argv", list(sys.argv))
    try:
        yield set_to
    finally:
        speedups.uninstall_all()
        gc.set_threshold(*thresholds)
        get_settings.cache_clear()


def test_main_installs_the_speed_ups_and_hands_rasa_its_arguments(
    switch: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, object] = {}
    monkeypatch.setattr(rasa.__main__, "main", lambda: seen.update(argv=list(sys.argv), gc=gc.get_threshold()))
    switch("on")
    rasa_train.main(["train", "--config", "config.yml"])
    assert seen == {"argv": ["rasa", "train", "--config", "config.yml"], "gc": rasa_train.GC_THRESHOLDS}
    assert RasaDataGenerator._scipy_matrix_to_values is fast_batches.scipy_matrix_to_values
    assert speedups.active()


def test_with_the_switch_off_training_is_plain_rasa(
    switch: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, object] = {}
    monkeypatch.setattr(rasa.__main__, "main", lambda: seen.update(argv=list(sys.argv), gc=gc.get_threshold()))
    rasa_pad = speedups.original(RasaDataGenerator, "_pad_dense_data")
    thresholds = gc.get_threshold()
    switch("off")
    rasa_train.main(["train"])
    assert seen == {"argv": ["rasa", "train"], "gc": thresholds}
    assert RasaDataGenerator._pad_dense_data is rasa_pad
    assert not speedups.active()


def test_the_process_leaves_with_its_output_written(tmp_path: Path) -> None:
    """`leave_at_once` skips the interpreter's teardown: what rasa printed must still be there, and exit code 0."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bot.runtime.train", "--version"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Rasa Version" in result.stdout
