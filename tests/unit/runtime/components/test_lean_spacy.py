"""LeanSpacyNLP loads fr_core_news_md without the pipes Guichet never reads; tokens and vectors stay the same."""

from __future__ import annotations

import spacy
import yaml
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.utils.spacy_utils import SpacyNLP

from bot.runtime.components.lean_spacy import LeanSpacyNLP
from bot.settings import ROOT

TEXTS = [
    "la mairie est ouverte ?",
    "quand passe la collecte des poubelles rue Serviez ?",
    "Il y a un nid de poule avenue de Lons, pouvez-vous intervenir ?",
    "c'est quoi les horaires de la médiathèque André-Labarrère samedi",
    "jvoudrai 1 rdv pr ma carte didentite",
]


def test_spacy_runs_only_its_tokenizer() -> None:
    nlp = LeanSpacyNLP.load_model("fr_core_news_md").model
    assert nlp.pipe_names == []
    assert {"tok2vec", "morphologizer", "parser", "attribute_ruler", "lemmatizer", "ner"} <= set(nlp.disabled)


def test_tokens_and_vectors_are_those_of_the_full_model() -> None:
    lean = LeanSpacyNLP.load_model("fr_core_news_md").model
    full = spacy.load("fr_core_news_md", disable=["parser"])  # what Rasa's SpacyNLP loads
    for text in TEXTS:
        a, b = lean(text.lower()), full(text.lower())
        assert [(t.text, t.idx) for t in a] == [(t.text, t.idx) for t in b]
        assert a.has_vector and (a.vector == b.vector).all()
        assert all((x.vector == y.vector).all() for x, y in zip(a, b, strict=True))


def test_rasa_tokens_take_their_text_as_lemma() -> None:
    from rasa.nlu.tokenizers.spacy_tokenizer import SpacyTokenizer
    from rasa.shared.nlu.constants import TEXT
    from rasa.shared.nlu.training_data.message import Message

    nlp = LeanSpacyNLP.load_model("fr_core_news_md").model
    message = Message(data={TEXT: "les poubelles passent"})
    message.set("text_spacy_doc", nlp("les poubelles passent"))
    tokens = SpacyTokenizer(SpacyTokenizer.get_default_config()).tokenize(message, TEXT)
    assert [(t.text, t.lemma) for t in tokens] == [("les", "les"), ("poubelles", "poubelles"), ("passent", "passent")]


def test_importing_it_changes_nothing_of_rasas_spacy() -> None:
    assert SpacyNLP.load_model("fr_core_news_md").model.pipe_names != []  # Rasa's own keeps its pipes


def test_the_recipe_hands_the_lean_model_to_the_message_featurizer() -> None:
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    assert config["pipeline"][0]["name"] == "bot.runtime.components.lean_spacy.LeanSpacyNLP"
    schemas = DefaultV1Recipe().graph_config_for_recipe(config, {}, is_finetuning=False)
    nodes = schemas.predict_schema.nodes
    provider = next(name for name, node in nodes.items() if node.uses is LeanSpacyNLP and node.fn == "provide")
    featurizer = next(name for name, node in nodes.items() if node.uses is LeanSpacyNLP and node.fn == "process")
    assert nodes[featurizer].needs["model"] == provider
