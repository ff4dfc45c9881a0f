"""`python -m bot run` in production: RASA_WORKERS becomes Rasa's Sanic workers, and only with Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.runtime.processes import children, configuration_problem, rasa_environment
from bot.settings import Settings


def settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(var_dir=tmp_path / "var", models_dir=tmp_path / "models", _env_file=None, **overrides)


@pytest.mark.parametrize(("workers", "expected"), [(1, "1"), (2, "2"), (0, "1")])
def test_rasa_workers_become_sanic_workers_of_the_rasa_server(tmp_path: Path, workers: int, expected: str) -> None:
    s = settings(tmp_path, rasa_workers=workers, redis_url="redis://127.0.0.1:6379/0")
    assert rasa_environment(s)["SANIC_WORKERS"] == expected
    rasa = next(c for c in children(s) if c.name == "rasa server")
    assert rasa.env["SANIC_WORKERS"] == expected
    action = next(c for c in children(s) if c.name == "action server")
    assert "SANIC_WORKERS" not in action.env


def test_tensorflow_runs_single_threaded_unless_the_operator_says_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TF_INTER_OP_PARALLELISM_THREADS", raising=False)
    monkeypatch.setenv("TF_INTRA_OP_PARALLELISM_THREADS", "2")
    env = rasa_environment(settings(tmp_path))
    assert env["TF_INTER_OP_PARALLELISM_THREADS"] == "1" and env["TF_INTRA_OP_PARALLELISM_THREADS"] == "2"


def test_several_workers_without_redis_are_refused_with_a_reason(tmp_path: Path) -> None:
    problem = configuration_problem(settings(tmp_path, rasa_workers=2))
    assert problem is not None and "REDIS_URL" in problem


@pytest.mark.parametrize(
    "overrides",
    [{}, {"rasa_workers": 2, "redis_url": "redis://127.0.0.1:6379/0"},
     {"database_url": "postgresql://postgres@127.0.0.1:5432/guichet", "redis_url": "redis://127.0.0.1:6379/0"}],
)  # fmt: skip
def test_the_embedded_default_and_the_production_settings_are_accepted(tmp_path: Path, overrides: dict) -> None:
    assert configuration_problem(settings(tmp_path, **overrides)) is None
