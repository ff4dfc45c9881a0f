"""Full training time: `rasa train --force` on the project's data, timed, into a throw-away directory."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bot.runtime.train import model_path, train


@dataclass
class TrainingResult:
    """How long a full training took and how big the model is."""

    seconds: float
    model_mb: float


def timed_training(root: Path | None = None) -> TrainingResult:
    """Train from scratch (forced, no cache reuse across runs) and measure wall time and model size."""
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        models = Path(tmp) / "models"
        previous = os.environ.get("RASA_CACHE_DIRECTORY")
        os.environ["RASA_CACHE_DIRECTORY"] = str(Path(tmp) / "cache")  # an empty cache: nothing reused
        try:
            started = time.perf_counter()
            train(models, force=True) if root is None else train(models, root=root, force=True)
            seconds = time.perf_counter() - started
        finally:
            if previous is None:
                os.environ.pop("RASA_CACHE_DIRECTORY", None)
            else:
                os.environ["RASA_CACHE_DIRECTORY"] = previous
        return TrainingResult(seconds=round(seconds, 1), model_mb=round(model_path(models).stat().st_size / 1e6, 1))
