"""spaCy reduced to what the pipeline reads: its tokenizer and its word vectors.

Rasa's SpacyNLP loads fr_core_news_md without its parser but with everything else. This pipeline reads only spaCy's
tokens and its word vectors (the vectors are a table lookup; entities come from DIET and regexes). The named-entity
recogniser, the contextual tagger (tok2vec, morphologizer) and the lemmatizer that needs its tags were most of
spaCy's time per message, for nothing the pipeline uses. `LeanSpacyNLP`, named in config.yml instead of SpacyNLP,
loads the model without them. Tokens and vectors are unchanged; without spaCy's lemmas, Rasa's tokens take their text
as lemma, which is what the word-count features then count (spaCy lemmatised citizens' SMS spelling poorly anyway,
and the held-out evaluation is as good or better).

This is a pipeline component (part of the trained model, in the training fingerprint), not a speed-up: it stays
whatever RASA_SPEEDUPS says, so that a model is always served with the spaCy pipes it was trained with.
"""

from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.utils.spacy_utils import SpacyModel, SpacyNLP

# Everything but the tokenizer (which is not a pipe) and the vectors table (which belongs to the vocabulary).
UNUSED_SPACY_PIPES = ("tok2vec", "morphologizer", "parser", "attribute_ruler", "lemmatizer", "ner")


# Rasa's recipe hands a model to the nodes that need it by the name of the class that provides it: `model_from`
# names this class, so that its message featurizer (SpacyNLP.process) gets the model it loaded.
@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MODEL_LOADER, DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER],
    is_trainable=False,
    model_from="LeanSpacyNLP",
)
class LeanSpacyNLP(SpacyNLP):
    """SpacyNLP whose spaCy model runs only its tokenizer (vectors included)."""

    @staticmethod
    def load_model(spacy_model_name: str) -> SpacyModel:
        """SpacyNLP.load_model without the pipes Guichet never reads (tagger, parser, lemmatizer, named entities)."""
        model = SpacyNLP.load_model(spacy_model_name)
        for name in UNUSED_SPACY_PIPES:
            if name in model.model.pipe_names:
                model.model.disable_pipe(name)
        return model
