"""Accent-, case- and typo-tolerant matching of what citizens type against catalog names."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher

STOPWORDS = frozenset(
    "le la les l de du des d a au aux et en un une pour sur mon ma mes son sa ses votre vos notre nos".split()
)
ABBREVIATIONS = {
    "bd": "boulevard", "bld": "boulevard", "blvd": "boulevard", "boul": "boulevard", "bvd": "boulevard",
    "av": "avenue", "ave": "avenue", "avn": "avenue", "r": "rue", "pl": "place", "ch": "chemin", "chem": "chemin",
    "crs": "cours", "mal": "marechal", "mar": "marechal", "marech": "marechal", "gal": "general", "gen": "general",
    "gl": "general", "st": "saint", "ste": "sainte", "pdt": "president", "imp": "impasse", "rte": "route",
    "sq": "square", "all": "allees", "allee": "allees", "bibli": "bibliotheque", "biblio": "bibliotheque",
    "mediatek": "mediatheque", "ot": "office tourisme", "pm": "police municipale",
}  # fmt: skip
STREET_TYPES = frozenset("rue avenue boulevard place cours chemin allees impasse route square quai".split())

_TOKEN_FLOOR = 0.8  # below this, two words are considered different rather than misspelt


def fold(text: str) -> str:
    """Lower-case, accentless, punctuation-free text with single spaces."""
    text = text.replace("œ", "oe").replace("Œ", "oe").replace("æ", "ae").replace("Æ", "ae")
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain).split())


def tokens(text: str, drop_numbers: bool = False) -> tuple[str, ...]:
    """The meaningful words of a text: folded, abbreviations expanded, stop words (and house numbers) dropped."""
    words: list[str] = []
    for word in fold(text).split():
        words.extend(ABBREVIATIONS.get(word, word).split())
    return tuple(w for w in words if w not in STOPWORDS and not (drop_numbers and (w.isdigit() or w in ("bis", "ter"))))


def street_aliases(name: str, aliases: Iterable[str] = ()) -> tuple[str, ...]:
    """Shorter names citizens use for a street: without its type ("Serviez"), just its last name ("Joffre"), or its
    type and last name ("rue Joffre")."""
    words = fold(name).split()
    found = list(aliases)
    if len(words) > 1 and words[0] in STREET_TYPES:
        found.append(" ".join(words[1:]))
    if len(words) > 2 and len(words[-1]) >= 4 and not words[-1].isdigit():
        found.append(words[-1])
        if words[0] in STREET_TYPES:
            found.append(f"{words[0]} {words[-1]}")
    return tuple(found)


def slugify(text: str) -> str:
    """An id made from a name: "Rue du Maréchal Foch" -> "rue_du_marechal_foch"."""
    return fold(text).replace(" ", "_")


@functools.lru_cache(maxsize=1 << 16)
def _word_ratio(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if not a or not b or 2 * min(len(a), len(b)) / (len(a) + len(b)) < _TOKEN_FLOOR:
        return 0.0  # the lengths alone rule out a close match (ratio <= 2 * shorter / total)
    matcher = SequenceMatcher(None, a, b)
    if matcher.quick_ratio() < _TOKEN_FLOOR:  # an upper bound of ratio(), much cheaper
        return 0.0
    ratio = matcher.ratio()
    return ratio if ratio >= _TOKEN_FLOOR else 0.0


def word_similarity(a: str, b: str) -> float:
    """How alike two folded words are, from 0 to 1; 0 below the floor under which they are different words."""
    return _word_ratio(a, b)


@functools.lru_cache(maxsize=1 << 14)
def similarity(query: tuple[str, ...], name: tuple[str, ...]) -> float:
    """How well a query matches a name, from 0 to 1 (1 only for the same words)."""
    if not query or not name:
        return 0.0
    if query == name:
        return 1.0
    coverage = sum(max(_word_ratio(n, q) for q in query) for n in name) / len(name)
    precision = sum(max(_word_ratio(q, n) for n in name) for q in query) / len(query)
    by_words = (2 * coverage + precision) / 3
    # Every typed word is in the name ("acte" in "acte de naissance"): a partial but plausible match, so that
    # "acte" or "rue du marechal" come back as several candidates rather than nothing.
    all_found = all(max(_word_ratio(q, n) for n in name) for q in query)
    partial = (0.6 + 0.35 * coverage) * precision if all_found else 0.0
    whole = SequenceMatcher(None, "".join(query), "".join(name)).ratio()
    return min(0.99, max(by_words, partial, 0.95 * whole))


@dataclass(frozen=True)
class Match:
    """A catalog entry that matches what was typed, with a score from 0 to 1 and the name that matched."""

    id: str
    name: str
    score: float
    matched: str


class FuzzyIndex:
    """Names and aliases of catalog entries, searchable with tolerance for accents, case and typos."""

    def __init__(self, entries: Iterable[tuple[str, str, Iterable[str]]], drop_numbers: bool = False) -> None:
        self._drop_numbers = drop_numbers
        self._names: list[tuple[str, str, str, tuple[str, ...]]] = []  # (id, display name, alias, tokens)
        for entry_id, display, aliases in entries:
            for alias in (entry_id.replace("_", " "), display, *aliases):
                words = tokens(alias, drop_numbers)
                if words:
                    self._names.append((entry_id, display, alias, words))

    def rank(self, text: str) -> list[Match]:
        """Every entry with its best score, best first."""
        query = tokens(text, self._drop_numbers)
        best: dict[str, Match] = {}
        for entry_id, display, alias, words in self._names:
            score = similarity(query, words)
            if entry_id not in best or score > best[entry_id].score:
                best[entry_id] = Match(entry_id, display, round(score, 3), alias)
        return sorted(best.values(), key=lambda m: (-m.score, m.id))

    def search(self, text: str, threshold: float = 0.75, margin: float = 0.05, limit: int = 5) -> list[Match]:
        """The best match, or several when they are too close to tell apart; empty when nothing is close enough."""
        ranked = [m for m in self.rank(text) if m.score >= threshold]
        if not ranked:
            return []
        top = ranked[0].score
        return [m for m in ranked if m.score >= top - margin][:limit]
