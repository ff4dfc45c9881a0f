"""The trained model, loaded once per test session (about 20 s)."""

from __future__ import annotations

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
