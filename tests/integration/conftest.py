"""The trained model, loaded once per test session (about 20 s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rasa.core.agent import Agent

from bot.runtime.nlg import TownResponses
from bot.runtime.train import is_up_to_date, model_path
from bot.settings import get_settings


@pytest.fixture(scope="session")
def agent() -> Agent:
    """The trained Guichet model, without action server (rules and responses only), its responses filled with the
    town's settings like the rasa server's (endpoints.yml)."""
    models = get_settings().models_dir
    if not is_up_to_date(models):
        pytest.fail("The model is missing or stale: run `make train` (make test does it first).")
    return Agent.load(str(model_path(models)), generator=TownResponses())


@pytest.fixture
def shipped_catalog(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The NLU reads catalog names from a fresh database seeded from data/town (the shipped catalog), not from
    whatever a local var/ database holds (a demo database keeps its own edits and is seeded only when empty)."""
    from bot.runtime.components.catalog_names import process_live_catalog

    database = tmp_path_factory.mktemp("catalog") / "catalog.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    get_settings.cache_clear()
    process_live_catalog.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    process_live_catalog.cache_clear()
