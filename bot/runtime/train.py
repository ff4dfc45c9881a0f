"""Training the assistant: only when what shapes the model changed (a content fingerprint, not a timestamp).

`train` runs `python -m bot.runtime.train train ...` in a child process: Rasa's own `rasa train` command line, with
the training speed-ups installed first (`bot.speedups`, switched by RASA_SPEEDUPS), so that the same model is built
sooner. The child leaves without the interpreter's teardown once the model is written.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import subprocess
import sys
from pathlib import Path

from bot.settings import ROOT

logger = logging.getLogger(__name__)

MODEL_NAME = "guichet"
# Tracing the training graphs creates millions of objects; full collections walk all of them again and again.
GC_THRESHOLDS = (100_000, 50, 100)
# The pipeline components and policies named in config.yml are trained with the model: a change to them retrains.
TRAINING_INPUTS = ("config.yml", "domain.yml", "bot/runtime/components", "data/nlu", "data/stories", "data/rules")
TRAINED_SUFFIXES = {".yml", ".yaml", ".py"}
TRAINING_DATA = ("data/nlu", "data/stories", "data/rules")


def training_files(root: Path = ROOT) -> list[Path]:
    """Every file that shapes the model, in a stable order."""
    files: list[Path] = []
    for name in TRAINING_INPUTS:
        path = root / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in TRAINED_SUFFIXES))
    return files


def fingerprint(root: Path = ROOT) -> str:
    """A hash of the names and contents of the training files."""
    digest = hashlib.sha256()
    for path in training_files(root):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def model_path(models_dir: Path) -> Path:
    """Where the trained model lives."""
    return models_dir / f"{MODEL_NAME}.tar.gz"


def fingerprint_path(models_dir: Path) -> Path:
    """Where the fingerprint of the data the model was trained on is kept."""
    return models_dir / f"{MODEL_NAME}.fingerprint"


def is_up_to_date(models_dir: Path, root: Path = ROOT) -> bool:
    """True when the model exists and was trained on the current data."""
    stamp = fingerprint_path(models_dir)
    return model_path(models_dir).is_file() and stamp.is_file() and stamp.read_text().strip() == fingerprint(root)


def train(models_dir: Path, root: Path = ROOT, force: bool = False) -> bool:
    """Train the model if the data changed (or if forced); return True when it trained."""
    if not force and is_up_to_date(models_dir, root):
        logger.info("Model %s is up to date.", model_path(models_dir))
        return False
    current = fingerprint(root)
    models_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "bot.runtime.train",  # rasa train, with the training speed-ups (main below)
        "train",
        "--config",
        str(root / "config.yml"),
        "--domain",
        str(root / "domain.yml"),
        "--data",
        *(str(root / d) for d in TRAINING_DATA),
        "--out",
        str(models_dir),
        "--fixed-model-name",
        MODEL_NAME,
        "--force",
    ]
    subprocess.run(command, check=True, cwd=root)  # noqa: S603 - fixed argument list
    fingerprint_path(models_dir).write_text(current + "\n")
    return True


def main(argv: list[str] | None = None) -> None:
    """Run `rasa` with these arguments (e.g. `train --config ...`), the training speed-ups installed as set."""
    from rasa.__main__ import main as rasa_main

    from bot import speedups
    from bot.settings import get_settings

    if speedups.install_all(get_settings().rasa_speedups, speedups.training_speedups()):
        gc.set_threshold(*GC_THRESHOLDS)
    sys.argv = ["rasa", *(sys.argv[1:] if argv is None else argv)]
    rasa_main()  # leaves through sys.exit with an error code when training fails


def leave_at_once() -> None:
    """End the process now that everything is written, without the interpreter's slow teardown."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
    leave_at_once()
