"""The domain and the training data honour the NLU contract (DESIGN.md §4)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.settings import ROOT
from bot.town.catalog import load_catalog
from bot.town.tickets.categories import PROBLEM_TYPES

INTENTS = [
    "greet",
    "goodbye",
    "thank",
    "affirm",
    "deny",
    "bot_challenge",
    "help",
    "out_of_scope",
    "ask_opening_hours",
    "ask_service_location",
    "ask_service_contact",
    "ask_procedure",
    "ask_waste_collection",
    "report_problem",
    "ask_ticket_status",
    "request_human",
    "inform",
    "erase_my_data",
]
CAPABILITY_INTENTS = {i for i in INTENTS if i.startswith("ask_")} | {"report_problem", "request_human"}
CANONICAL = {
    "service": {
        "mairie",
        "mairie_annexe",
        "etat_civil",
        "urbanisme",
        "ccas",
        "police_municipale",
        "mediatheque",
        "piscine",
        "decheterie",
        "office_tourisme",
        "cimetiere",
        "services_techniques",
        "sports",
    },
    "procedure": {
        "carte_identite",
        "passeport",
        "acte_naissance",
        "acte_mariage",
        "acte_deces",
        "inscription_listes_electorales",
        "recensement_citoyen",
        "inscription_scolaire",
        "restauration_scolaire",
        "permis_construire",
        "declaration_naissance",
        "perte_vol_papiers",
    },
    "problem_type": {
        "voirie",
        "eclairage_public",
        "proprete",
        "collecte_dechets",
        "graffiti",
        "espaces_verts",
        "mobilier_urbain",
        "signalisation",
        "eau_assainissement",
        "stationnement",
        "animaux",
        "bruit",
        "autre",
    },
    "weekday": {"lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"},
    "waste_stream": {"ordures_menageres", "recyclables", "verre", "dechets_verts", "encombrants"},
}


@pytest.fixture(scope="module")
def training() -> TrainingData:
    return load_data(str(ROOT / "data" / "nlu"))


@pytest.fixture(scope="module")
def domain() -> dict:
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


def test_domain_declares_every_contract_intent_and_entity(domain: dict) -> None:
    assert set(INTENTS) <= set(domain["intents"])
    assert {"service", "procedure", "problem_type", "ticket_ref", "address", "weekday", "date"} <= set(
        domain["entities"]
    )


@pytest.mark.parametrize("intent", INTENTS)
def test_every_intent_has_enough_hand_written_examples(training: TrainingData, intent: str) -> None:
    counts = Counter(m.get("intent") for m in training.intent_examples)
    assert counts[intent] >= (60 if intent in CAPABILITY_INTENTS else 30)


def test_no_example_is_written_twice(training: TrainingData) -> None:
    texts = Counter(m.get("text").strip().lower() for m in training.intent_examples)
    assert [t for t, n in texts.items() if n > 1] == []


@pytest.mark.parametrize("entity", sorted(CANONICAL))
def test_entity_values_are_canonical_and_all_covered(training: TrainingData, entity: str) -> None:
    values = {e["value"] for m in training.intent_examples for e in m.get("entities") or [] if e["entity"] == entity}
    synonyms = {v for v in training.entity_synonyms.values()}
    assert values <= CANONICAL[entity]
    assert values | (synonyms & CANONICAL[entity]) == CANONICAL[entity]


def test_synonyms_map_to_canonical_values(training: TrainingData) -> None:
    canonical = set().union(*CANONICAL.values()) | {"aujourdhui", "demain", "apres_demain"}
    assert set(training.entity_synonyms.values()) <= canonical


CATALOG_ENTITIES = ("service", "procedure", "problem_type")


def test_the_catalog_names_every_canonical_value_of_its_entities() -> None:
    catalog = load_catalog(ROOT / "data" / "town")
    assert set(catalog.services) == CANONICAL["service"]
    assert set(catalog.procedures) == CANONICAL["procedure"]
    assert set(PROBLEM_TYPES) == set(catalog.categories) == CANONICAL["problem_type"]
    entries = [*catalog.services.values(), *catalog.procedures.values(), *catalog.categories.values()]
    assert [entry.id for entry in entries if len(entry.aliases) < 3] == []


def test_names_of_catalog_entities_live_in_the_catalog_not_in_the_training_synonyms(training: TrainingData) -> None:
    """Rasa's synonyms would need a retraining for every new name; the catalog's are live (catalog_names)."""
    nlu_files = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "data" / "nlu").glob("synonyms_*.yml"))
    catalog_values = set().union(*(CANONICAL[entity] for entity in CATALOG_ENTITIES))
    assert [value for value in catalog_values if f"synonym: {value}\n" in nlu_files] == []


def test_ticket_references_are_extracted_by_a_regex(training: TrainingData) -> None:
    assert any(r["name"] == "ticket_ref" for r in training.regex_features)


def test_training_data_is_written_as_citizens_write(training: TrainingData) -> None:
    texts = [m.get("text") for m in training.intent_examples]
    without_accents = [t for t in texts if t.isascii()]
    sms = [t for t in texts if any(w in t.lower().split() for w in ("bjr", "svp", "stp", "pr", "c", "koi", "slt"))]
    assert len(without_accents) / len(texts) > 0.5
    assert len(sms) >= 40
    assert any(len(t) > 120 for t in texts)


def test_the_held_out_split_is_a_separate_file(training: TrainingData) -> None:
    held_out = load_data(str(Path(ROOT / "tests" / "data" / "nlu_test.yml")))
    counts = Counter(m.get("intent") for m in held_out.intent_examples)
    assert all(counts[i] >= 12 for i in INTENTS)
