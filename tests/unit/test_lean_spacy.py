"""SpacyNLP loads fr_core_news_md without the pipes Guichet never reads, and features stay the same."""

from __future__ import annotations

import spacy
from rasa.nlu.utils.spacy_utils import SpacyNLP

import bot.nlu  # noqa: F401 - importing it makes SpacyNLP lean, as Rasa does when it reads config.yml

TEXTS = [
    "la mairie est ouverte ?",
    "quand passe la collecte des poubelles rue Serviez ?",
    "Il y a un nid de poule avenue de Lons, pouvez-vous intervenir ?",
    "c'est quoi les horaires de la médiathèque André-Labarrère samedi",
    "jvoudrai 1 rdv pr ma carte didentite",
]


def test_spacy_runs_without_parser_and_named_entities() -> None:
    nlp = SpacyNLP.load_model("fr_core_news_md").model
    assert "ner" not in nlp.pipe_names and "parser" not in nlp.pipe_names
    assert {"tok2vec", "morphologizer", "lemmatizer"} <= set(nlp.pipe_names)


def test_tokens_lemmas_and_vectors_are_those_of_the_full_model() -> None:
    lean = SpacyNLP.load_model("fr_core_news_md").model
    full = spacy.load("fr_core_news_md", disable=["parser"])  # what Rasa's SpacyNLP loads
    for text in TEXTS:
        a, b = lean(text.lower()), full(text.lower())
        assert [(t.text, t.lemma_, t.pos_) for t in a] == [(t.text, t.lemma_, t.pos_) for t in b]
        assert (a.vector == b.vector).all()
        assert all((x.vector == y.vector).all() for x, y in zip(a, b, strict=True))
