"""The NLU's catalog entities come out as catalog ids, read from the live catalog: a new name needs no retraining."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from rasa.shared.nlu.training_data.message import Message
from sqlalchemy.exc import OperationalError

from bot.db import create_engine_for
from bot.runtime.components.catalog_names import CatalogNameMapper
from bot.town.catalog.live import LiveCatalog
from bot.town.catalog.store import CatalogStore

ROOT = Path(__file__).resolve().parents[4]
TOWN = ROOT / "data" / "town"


@pytest.fixture()
def store(tmp_path: Path) -> CatalogStore:
    catalog_store = CatalogStore(create_engine_for(f"sqlite:///{tmp_path / 'catalog.db'}"))
    catalog_store.create_schema()
    return catalog_store


@pytest.fixture()
def live(store: CatalogStore) -> LiveCatalog:
    return LiveCatalog(store, TOWN, check_seconds=0)  # checks the version at every message


def parsed(text: str, *entities: tuple[str, str]) -> Message:
    """A message as the extractors leave it: each entity's value is the span typed."""
    found = []
    for entity, span in entities:
        start = text.index(span)
        found.append({"entity": entity, "value": span, "start": start, "end": start + len(span), "extractor": "DIET"})
    return Message(data={"text": text, "entities": found})


def values(message: Message) -> list[tuple[str, Any]]:
    return [(e["entity"], e["value"]) for e in message.get("entities")]


def test_catalog_entities_get_their_canonical_value_and_others_are_untouched(live: LiveCatalog):
    mapper = CatalogNameMapper(lambda: live)
    message = parsed(
        "un réverbère qui grésille rue Serviez depuis lundi",
        ("problem_type", "réverbère qui grésille"),
        ("address", "rue Serviez"),
        ("weekday", "lundi"),
    )
    [out] = mapper.process([message])
    assert values(out) == [("problem_type", "eclairage_public"), ("address", "rue Serviez"), ("weekday", "lundi")]
    assert out.get("entities")[0]["processors"] == ["CatalogNameMapper"]
    assert out.get("entities")[0]["start"] == 3  # the span's place in the text is kept


def test_lost_papers_and_voting_come_back_canonical(live: LiveCatalog):
    mapper = CatalogNameMapper(lambda: live)
    messages = [
        parsed("j'ai égaré mes papiers", ("procedure", "égaré mes papiers")),
        parsed("vol de portefeuille avec ma carte d'identité", ("procedure", "vol de portefeuille")),
        parsed("je veux m'inscrire pour voter", ("procedure", "m'inscrire pour voter")),
        parsed("horaires de la mediatek", ("service", "mediatek")),
    ]
    assert [values(m)[0][1] for m in mapper.process(messages)] == [
        "perte_vol_papiers",
        "perte_vol_papiers",
        "inscription_listes_electorales",
        "mediatheque",
    ]


def test_a_value_another_mapper_took_for_another_entity_is_resolved_from_the_span(live: LiveCatalog):
    message = parsed("des ordures éparpillées partout", ("problem_type", "ordures éparpillées"))
    message.get("entities")[0]["value"] = "ordures_menageres"  # Rasa's synonym of the waste stream « ordures »
    [out] = CatalogNameMapper(lambda: live).process([message])
    assert values(out) == [("problem_type", "proprete")]


def test_another_entitys_value_for_a_span_that_names_nothing_gives_way_to_the_span(live: LiveCatalog):
    message = parsed("des ordures partout", ("problem_type", "ordures"))
    message.get("entities")[0]["value"] = "ordures_menageres"
    [out] = CatalogNameMapper(lambda: live).process([message])
    assert values(out) == [("problem_type", "ordures")]


def test_a_span_that_matches_nothing_is_kept_as_typed(live: LiveCatalog):
    [out] = CatalogNameMapper(lambda: live).process([parsed("horaires du zoo", ("service", "zoo"))])
    assert values(out) == [("service", "zoo")]
    assert "processors" not in out.get("entities")[0]


def test_a_name_added_through_the_store_works_at_the_next_message_without_retraining(
    store: CatalogStore, live: LiveCatalog
):
    mapper = CatalogNameMapper(lambda: live)
    message = "la ludothèque ouvre quand ?"
    [before] = mapper.process([parsed(message, ("service", "ludothèque"))])
    assert values(before) == [("service", "ludothèque")]
    document = store.get_item("service", "mediatheque")
    store.put_item("service", "mediatheque", {**document, "aliases": [*document["aliases"], "ludothèque"]}, "test")
    [after] = mapper.process([parsed(message, ("service", "ludothèque"))])
    assert values(after) == [("service", "mediatheque")]


def test_the_name_tables_are_built_once_per_catalog_version(store: CatalogStore, live: LiveCatalog):
    mapper = CatalogNameMapper(lambda: live)
    first = mapper.names()
    assert first is not None and mapper.names() is first
    store.add_closure("mairie", date(2027, 3, 11), None, "Inventaire", "test")
    assert mapper.names() is not first


def test_messages_without_catalog_entities_never_touch_the_catalog():
    def unreachable() -> LiveCatalog:
        raise AssertionError("the catalog was opened")

    [out] = CatalogNameMapper(unreachable).process([parsed("bonjour lundi", ("weekday", "lundi"))])
    assert values(out) == [("weekday", "lundi")]


def test_an_unreadable_catalog_keeps_the_spans_and_the_message_goes_on(caplog: pytest.LogCaptureFixture):
    def database_gone() -> LiveCatalog:
        raise OperationalError("SELECT version", {}, Exception("database is locked"))

    [out] = CatalogNameMapper(database_gone).process([parsed("horaires mairi", ("service", "mairi"))])
    assert values(out) == [("service", "mairi")]
    assert "Catalog unavailable" in caplog.text
