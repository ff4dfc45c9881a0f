"""Development evaluation of the NLU on the TRAINING data only (never on tests/data).

The held-out split in tests/data/nlu_test.yml measures the NLU once a choice is made; choices themselves (pipeline
settings, which phrasings to add) are made here, on a seeded 80/20 split of data/nlu:

    python -m bench.nlu_dev --config config.yml --seed 11 [--seed 23 ...] [--errors]

For each seed it splits data/nlu with `rasa data split nlu`, trains an NLU-only model on the 80 % part with the given
config, parses the 20 % part and prints accuracy, macro-F1 and (with --errors) the misread examples.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.nlu_eval import evaluate, load_examples
from bot.settings import ROOT


def split(seed: int, out: Path) -> tuple[Path, Path]:
    """Split data/nlu into training and development files, reproducibly."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "rasa",
            "data",
            "split",
            "nlu",
            "--nlu",
            str(ROOT / "data" / "nlu"),
            "--training-fraction",
            "0.8",
            "--random-seed",
            str(seed),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    return out / "training_data.yml", out / "test_data.yml"


def train(config: Path, nlu: Path, out: Path) -> Path:
    """Train an NLU-only model and return its path."""
    from rasa.model_training import train_nlu

    from bot.speedups import fast_batches

    fast_batches.install()  # the same batches as Rasa's, built faster (as `make train` does)
    model = train_nlu(str(config), str(nlu), str(out), domain=str(ROOT / "domain.yml"), fixed_model_name="dev")
    if not model:
        raise SystemExit("training failed")
    return Path(model)


async def score(model: Path, dev: Path, show_errors: bool) -> tuple[float, float]:
    """Accuracy and macro-F1 of the model on the development part."""
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    report = await evaluate(agent.parse_message, load_examples(dev))
    if show_errors:
        for error in report.errors:
            print(f"  {error['expected']:>22} -> {error['predicted']:<22} {error['confidence']:.2f}  {error['text']}")
    return report.accuracy, report.macro_f1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "config.yml")
    parser.add_argument("--seed", type=int, action="append", help="split seed (repeatable; default 11)")
    parser.add_argument("--errors", action="store_true", help="print the misread development examples")
    args = parser.parse_args()
    results = []
    for seed in args.seed or [11]:
        with tempfile.TemporaryDirectory(prefix="guichet-dev-") as tmp:
            train_file, dev_file = split(seed, Path(tmp))
            started = time.monotonic()
            model = train(args.config, train_file, Path(tmp) / "models")
            seconds = time.monotonic() - started
            accuracy, macro_f1 = asyncio.run(score(model, dev_file, args.errors))
        results.append((accuracy, macro_f1))
        print(f"seed {seed}: accuracy {accuracy:.3f}  macro-F1 {macro_f1:.3f}  (training {seconds:.0f} s)", flush=True)
    mean_acc = sum(r[0] for r in results) / len(results)
    mean_f1 = sum(r[1] for r in results) / len(results)
    print(f"{args.config}: mean accuracy {mean_acc:.3f}  mean macro-F1 {mean_f1:.3f}  over {len(results)} split(s)")


if __name__ == "__main__":
    main()
