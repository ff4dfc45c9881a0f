"""The trained model returns catalog ids for citizens' words, read from the live catalog of the settings' database."""

from __future__ import annotations

from typing import Any

import pytest
from rasa.core.agent import Agent

pytestmark = pytest.mark.model


def values(parse: dict[str, Any], entity: str) -> list[str]:
    return [e["value"] for e in parse["entities"] if e["entity"] == entity]


@pytest.mark.usefixtures("shipped_catalog")
async def test_model_parse_returns_canonical_values_for_the_words_of_issue_21(agent: Agent) -> None:
    # The words a new user tried (issue 21); DIET may cut one span in two (« pour » and « m'inscrire pour voter »):
    # what matters is that the value the actions receive is the catalog's.
    for text, entity, value in [
        ("j'ai égaré mes papiers", "procedure", "perte_vol_papiers"),
        ("je voudrais m'inscrire pour voter", "procedure", "inscription_listes_electorales"),
        ("un réverbère qui grésille rue Carnot", "problem_type", "eclairage_public"),
    ]:
        assert value in values(await agent.parse_message(text), entity), text
