"""Citizens' words for services, procedures and problem categories resolve to catalog ids, or to nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.db import create_engine_for
from bot.town.catalog import Catalog, CatalogError, load_catalog
from bot.town.catalog.documents import CATEGORIES_FILE, read_documents
from bot.town.catalog.names import CatalogNames, NameTable, name_key
from bot.town.catalog.store import CatalogStore

ROOT = Path(__file__).resolve().parents[4]
TOWN = ROOT / "data" / "town"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(TOWN)


@pytest.fixture(scope="module")
def names(catalog: Catalog) -> CatalogNames:
    return CatalogNames(catalog)


@pytest.mark.parametrize(
    ("entity", "span", "value"),
    [
        # the words of issue 21, as a new user tried them
        ("problem_type", "réverbère qui grésille", "eclairage_public"),
        ("problem_type", "ordures éparpillées", "proprete"),
        ("problem_type", "regard d'égout ouvert", "eau_assainissement"),
        ("procedure", "m'inscrire pour voter", "inscription_listes_electorales"),
        ("procedure", "égaré mes papiers", "perte_vol_papiers"),
        ("procedure", "vol de portefeuille", "perte_vol_papiers"),
        # the longest name inside the span wins: a lost card is the loss procedure, not the card's
        ("procedure", "perdu ma carte d'identité", "perte_vol_papiers"),
        ("procedure", "acte de naissance de mon fils", "acte_naissance"),
        # accents, case, SMS forms and typos
        ("problem_type", "REVERBERE QUI GRESILLE", "eclairage_public"),
        ("problem_type", "lampadère", "eclairage_public"),
        ("problem_type", "trotoir défoncé", "voirie"),
        ("procedure", "carte didentite", "carte_identite"),
        ("procedure", "passprt", "passeport"),
        ("procedure", "inscrption liste electoral", "inscription_listes_electorales"),
        ("service", "la mediatek", "mediatheque"),
        ("service", "bibliotheque", "mediatheque"),
        ("service", "mairi", "mairie"),
        ("service", "piscine municipal", "piscine"),
        # a canonical value stays itself
        ("service", "ccas", "ccas"),
        ("problem_type", "autre", "autre"),
    ],
)
def test_citizens_words_resolve_to_the_canonical_value(names: CatalogNames, entity: str, span: str, value: str):
    assert names.resolve(entity, span) == value


@pytest.mark.parametrize(
    ("entity", "span"),
    [
        ("service", "zoo"),
        ("procedure", "truc"),
        ("procedure", "papiers"),  # which papers? the action asks rather than guesses
        ("problem_type", "nos bacs sont toujours pleins"),  # "bacs" is not "bancs"
        ("problem_type", "musique tres forte mais pas que"),  # "tres" is not "autres"
        ("problem_type", "voitures garees sur la piste cyclable"),  # "voitures" is not "voiries"
        ("service", ""),
        ("weekday", "lundi"),  # not a catalog entity
    ],
)
def test_a_span_that_names_nothing_well_enough_resolves_to_nothing(names: CatalogNames, entity: str, span: str):
    assert names.resolve(entity, span) is None


def test_a_name_two_entries_share_resolves_to_neither() -> None:
    table = NameTable([("a", "Alpha", ("guichet unique",)), ("b", "Beta", ("guichet unique",))])
    assert table.resolve("guichet unique") is None
    assert table.resolve("alpha") == "a"


def test_elided_pronouns_do_not_count() -> None:
    assert name_key("m'inscrire pour voter") == name_key("s'inscrire pour voter") == ("inscrire", "voter")


def test_every_problem_category_is_named_even_without_categories_yml(tmp_path: Path) -> None:
    town = tmp_path / "town"
    shutil.copytree(TOWN, town)
    (town / CATEGORIES_FILE).unlink()
    catalog = load_catalog(town)
    assert catalog.categories == {}
    names = CatalogNames(catalog)
    assert names.resolve("problem_type", "eclairage public") == "eclairage_public"  # its Open311 name
    assert names.resolve("problem_type", "réverbère") is None  # a citizen's name lives in categories.yml


def test_an_unknown_problem_category_is_refused_naming_file_entry_and_field(tmp_path: Path) -> None:
    town = tmp_path / "town"
    shutil.copytree(TOWN, town)
    path = town / CATEGORIES_FILE
    path.write_text(path.read_text(encoding="utf-8").replace("- id: bruit", "- id: vacarme"), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"^categories.yml: vacarme: id: 'vacarme' is not a problem category"):
        load_catalog(town)


def test_aliases_of_a_category_must_be_a_list_of_text(tmp_path: Path) -> None:
    documents = read_documents(TOWN)
    documents.categories[0]["aliases"] = "nid de poule"
    store = CatalogStore(create_engine_for(f"sqlite:///{tmp_path / 'catalog.db'}"))
    store.create_schema()
    with pytest.raises(CatalogError, match=r"^categories.yml: voirie: aliases: expected a list"):
        store.import_documents(documents, "test")


def test_a_category_name_added_through_the_store_is_in_the_catalog(tmp_path: Path) -> None:
    store = CatalogStore(create_engine_for(f"sqlite:///{tmp_path / 'catalog.db'}"))
    store.create_schema()
    assert store.seed(TOWN)
    document = store.get_item("category", "eclairage_public")
    version = store.put_item(
        "category", "eclairage_public", {**document, "aliases": [*document["aliases"], "loupiote"]}, "console:anne"
    )
    assert version == 2
    _, catalog = store.catalog()
    assert CatalogNames(catalog).resolve("problem_type", "loupiote morte") == "eclairage_public"
    [change] = store.history(1)
    assert (change.actor, change.kind, change.item_id) == ("console:anne", "category", "eclairage_public")
