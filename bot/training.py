"""Training the assistant only when its training data changed (a content fingerprint, not a timestamp)."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
from pathlib import Path

from bot.settings import ROOT

logger = logging.getLogger(__name__)

MODEL_NAME = "guichet"
# bot/nlu.py is a trained pipeline component: a change to it must retrain too.
TRAINING_INPUTS = ("config.yml", "domain.yml", "bot/nlu.py", "data/nlu", "data/stories", "data/rules")
TRAINING_DATA = ("data/nlu", "data/stories", "data/rules")


def training_files(root: Path = ROOT) -> list[Path]:
    """Every file that shapes the model, in a stable order."""
    files: list[Path] = []
    for name in TRAINING_INPUTS:
        path = root / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in {".yml", ".yaml"}))
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
        "bot.rasa_train",  # rasa train, with the same model built faster (bot/rasa_train.py)
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
