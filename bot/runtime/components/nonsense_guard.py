"""A pipeline component that sends nonsense to the fallback instead of a random intent.

DIET always picks *some* intent, often with high confidence, for messages that carry no French at all:
numbers alone, emoji, keyboard mashing, another language. This guard runs after the intent classifier and before
`FallbackClassifier`; for such messages it sets the intent confidence to 0 so the fallback takes over.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
# Contact details a citizen types when asked for them: never nonsense, whatever letters an address is made of.
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
VOCABULARY_FILE = "vocabulary.json"


# Function words of the languages citizens might write in by mistake. Words that are also French function words
# ("a", "de", "la", "en", "le", "me", "se", "son"...) are left out, so they never count against French.
FOREIGN_FUNCTION_WORDS = {
    "en": {
        "the",
        "is",
        "are",
        "what",
        "where",
        "when",
        "how",
        "does",
        "do",
        "you",
        "your",
        "my",
        "i",
        "can",
        "of",
        "to",
        "and",
        "it",
        "this",
        "that",
        "with",
        "for",
        "hello",
        "hi",
        "please",
        "thanks",
        "open",
        "time",
    },
    "es": {
        "el",
        "los",
        "las",
        "es",
        "está",
        "esta",
        "dónde",
        "donde",
        "cuándo",
        "cuando",
        "qué",
        "que",
        "por",
        "favor",
        "hola",
        "gracias",
        "del",
        "una",
        "y",
        "con",
        "mi",
        "puedo",
        "tiene",
        "hay",
        "abierto",
    },
    "de": {
        "der",
        "die",
        "das",
        "ist",
        "wo",
        "wann",
        "wie",
        "und",
        "ich",
        "bitte",
        "danke",
        "hallo",
        "nicht",
        "mit",
        "ein",
        "eine",
        "geöffnet",
        "sind",
        "haben",
        "kann",
        "mein",
        "was",
        "zu",
    },
    "it": {
        "il",
        "gli",
        "è",
        "dove",
        "quando",
        "come",
        "grazie",
        "ciao",
        "per",
        "favore",
        "sono",
        "della",
        "aperto",
        "chi",
        "cosa",
        "posso",
        "mio",
        "anche",
    },
    "pt": {
        "o",
        "os",
        "é",
        "onde",
        "quando",
        "obrigado",
        "obrigada",
        "olá",
        "ola",
        "por",
        "favor",
        "não",
        "nao",
        "está",
        "uma",
        "com",
        "meu",
        "posso",
        "aberto",
    },
}
FRENCH_HINTS = {
    "le",
    "la",
    "les",
    "de",
    "des",
    "du",
    "un",
    "une",
    "je",
    "j",
    "est",
    "et",
    "à",
    "a",
    "pour",
    "pr",
    "mon",
    "ma",
    "mes",
    "vous",
    "votre",
    "il",
    "elle",
    "c",
    "ce",
    "ça",
    "ca",
    "qui",
    "quoi",
    "koi",
    "où",
    "ou",
    "quand",
    "comment",
    "bonjour",
    "bjr",
    "merci",
    "svp",
    "stp",
    "oui",
    "non",
    "en",
    "au",
}


# Keyboard rows (AZERTY and QWERTY): "azertyuiop" or "wxcvbn" are on the web often enough to have word vectors,
# but a run of four or more neighbouring keys is keyboard mashing, not a word.
KEYBOARD_ROWS = ("azertyuiop", "qsdfghjklm", "wxcvbn", "qwertyuiop", "asdfghjkl", "zxcvbnm")


def is_keyboard_run(token: str) -> bool:
    """True for four or more neighbouring keys of one keyboard row, in either direction."""
    return len(token) >= 4 and any(token in row or token in row[::-1] for row in KEYBOARD_ROWS)


def fold(text: str) -> str:
    """Lower-case and strip accents, so "Mairié" and "mairie" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """The alphabetic words of a text, lower-cased."""
    return [w.lower() for w in WORD.findall(text)]


@dataclass(frozen=True)
class Verdict:
    """Why a message is nonsense, or None when it reads as French."""

    reason: str | None


def judge(text: str, known: set[str], has_vector: dict[str, bool]) -> Verdict:
    """Decide whether a message carries no French the assistant could understand."""
    tokens = words(text)
    if not tokens:
        return Verdict("no_letters")
    if detect_foreign(tokens):
        return Verdict("foreign_language")
    unknown = [t for t in tokens if not is_known(t, known, has_vector)]
    if len(unknown) / len(tokens) >= 0.75:
        return Verdict("gibberish")
    return Verdict(None)


def detect_foreign(tokens: list[str]) -> bool:
    """True when a message has clear function words of another language and none of French."""
    if len(tokens) < 3 or any(t in FRENCH_HINTS for t in tokens):
        return False
    best = max(sum(t in vocab for t in tokens) for vocab in FOREIGN_FUNCTION_WORDS.values())
    return best >= 2 and best / len(tokens) >= 0.3


def is_known(token: str, known: set[str], has_vector: dict[str, bool]) -> bool:
    """A token is known if the French model has a vector for it or it is (close to) a training word."""
    if is_keyboard_run(token):
        return False
    if len(token) <= 3 or has_vector.get(token, False):
        return True
    folded = fold(token)
    if folded in known:
        return True
    return bool(difflib.get_close_matches(folded, _bucket(known, folded), n=1, cutoff=0.8))


def _bucket(known: set[str], token: str) -> list[str]:
    """Training words of similar length sharing the first letter: cheap candidates for a fuzzy match."""
    return [w for w in known if w[:1] == token[:1] and abs(len(w) - len(token)) <= 2]


def training_vocabulary(texts: Iterable[str]) -> set[str]:
    """The folded words of the training examples, synonyms and lookup tables."""
    return {fold(w) for text in texts for w in words(text)}


def without_entities(message: Message) -> str:
    """The message text with the regex-extracted entities (ticket references) blanked out.

    Entities found by the statistical extractor do not count: DIET readily tags keyboard mashing as an address.
    """
    text = message.get(TEXT) or ""
    entities = [e for e in message.get("entities") or [] if e.get("extractor") == "RegexEntityExtractor"]
    for entity in sorted(entities, key=lambda e: e.get("start", 0), reverse=True):
        start, end = entity.get("start"), entity.get("end")
        if isinstance(start, int) and isinstance(end, int):
            text = text[:start] + " " + text[end:]
    return EMAIL.sub(" ", text)


def judge_message(message: Message, known: set[str], has_vector: dict[str, bool]) -> Verdict:
    """Judge a parsed message; words inside extracted entities (a ticket reference, a street) count as French."""
    text = message.get(TEXT) or ""
    if not words(text):
        return Verdict("no_letters")
    rest = without_entities(message)
    if not words(rest):
        return Verdict(None)  # only entities, e.g. "PAU-2026-000123" or "rue Serviez"
    return judge(rest, known, has_vector)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class NonsenseGuard(GraphComponent):
    """Zeroes the intent confidence of messages with no understandable French, so the fallback answers."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """No options."""
        return {}

    def __init__(self, model_storage: ModelStorage, resource: Resource, vocabulary: set[str]) -> None:
        self._model_storage = model_storage
        self._resource = resource
        self._vocabulary = vocabulary

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> NonsenseGuard:
        """A guard with an empty vocabulary, to be trained."""
        return cls(model_storage, resource, set())

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> NonsenseGuard:
        """The guard with the vocabulary saved at training time."""
        try:
            with model_storage.read_from(resource) as directory:
                vocabulary = set(json.loads((directory / VOCABULARY_FILE).read_text(encoding="utf-8")))
        except ValueError:
            vocabulary = set()
        return cls(model_storage, resource, vocabulary)

    def train(self, training_data: TrainingData) -> Resource:
        """Remember every word the training data uses."""
        texts = [m.get(TEXT) or "" for m in training_data.training_examples]
        texts += list(training_data.entity_synonyms.keys())
        texts += [element for table in training_data.lookup_tables for element in table.get("elements", [])]
        self._vocabulary = training_vocabulary(texts)
        with self._model_storage.write_to(self._resource) as directory:
            (directory / VOCABULARY_FILE).write_text(json.dumps(sorted(self._vocabulary)), encoding="utf-8")
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Training data passes through unchanged."""
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        """Zero the confidence of nonsense messages."""
        for message in messages:
            intent = message.get(INTENT)
            if not intent:
                continue
            doc = message.get("text_spacy_doc")
            has_vector = {t.text.lower(): bool(t.has_vector) for t in doc} if doc is not None else {}
            verdict = judge_message(message, self._vocabulary, has_vector)
            if verdict.reason is None:
                continue
            message.set(INTENT, {**intent, "confidence": 0.0}, add_to_output=True)
            ranking = message.get(INTENT_RANKING_KEY) or []
            message.set(INTENT_RANKING_KEY, [{**r, "confidence": 0.0} for r in ranking], add_to_output=True)
            message.set("nonsense", verdict.reason, add_to_output=True)
        return messages
