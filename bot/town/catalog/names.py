"""The names citizens give services, procedures and problem categories, resolved to the catalog's ids.

The NLU extracts a span of the message ("réverbère qui grésille", "m'inscrire pour voter"); the rest of the
assistant expects a canonical value ("eclairage_public", "inscription_listes_electorales"). `CatalogNames` holds, for
one catalog, every name of every entry (id, name, label, aliases), folded, and resolves a span in steps, cheapest
first: the whole span is a name; the span contains a name (the longest wins: "carte d'identité perdue" is the loss, not
the card); the same with misspelt words ("trotoir defoncé"); the span is close to one name only. Anything less
certain resolves to None, and the span is kept: a wrong guess would answer another question than the one asked.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from difflib import SequenceMatcher

from bot.town.catalog.catalog import Catalog
from bot.town.catalog.matching import FuzzyIndex, tokens
from bot.town.tickets.categories import PROBLEM_TYPES

# Elided pronouns left by folding ("m'inscrire" -> "m inscrire"): they never tell two names apart.
ELISIONS = frozenset({"m", "s", "t", "j", "n", "c", "qu"})
FUZZY_THRESHOLD = 0.82  # below, a typed span is too far from every name to be taken for one
MAX_SPAN_WORDS = 12  # longer spans are sentences, not names: only the fuzzy step would see them, and it would guess


MISSPELT_RATIO = 0.85  # two words of six letters or more this close are one word misspelt ("trotoir", "trottoir")


@functools.lru_cache(maxsize=1 << 14)
def same_word(name_word: str, typed: str) -> bool:
    """Whether a typed word is a word of a name, perhaps misspelt; short words must be exact ("tag" is not "tas")."""
    if name_word == typed:
        return True
    if min(len(name_word), len(typed)) < 6 or name_word[0] != typed[0]:
        return False
    return SequenceMatcher(None, name_word, typed).ratio() >= MISSPELT_RATIO


def name_key(text: str) -> tuple[str, ...]:
    """The words that identify a name: folded, abbreviations expanded, stop words and elisions dropped."""
    return tuple(word for word in tokens(text) if word not in ELISIONS)


class NameTable:
    """The names of the entries of one kind (one NLU entity), resolved with tolerance."""

    def __init__(self, entries: Iterable[tuple[str, str, Iterable[str]]]) -> None:
        entries = [(entry_id, display, tuple(aliases)) for entry_id, display, aliases in entries]
        self.ids = frozenset(entry_id for entry_id, _, _ in entries)
        owners: dict[tuple[str, ...], set[str]] = {}
        for entry_id, display, aliases in entries:
            for name in (entry_id.replace("_", " "), display, *aliases):
                key = name_key(name)
                if key:
                    owners.setdefault(key, set()).add(entry_id)
        # A name two entries share tells neither apart: it is left to the fuzzy step, which reports ambiguity.
        self._exact = {key: next(iter(ids)) for key, ids in owners.items() if len(ids) == 1}
        self._longest = max((len(key) for key in self._exact), default=0)
        self._by_size: dict[int, list[tuple[tuple[str, ...], str]]] = {}
        for key, entry_id in self._exact.items():
            self._by_size.setdefault(len(key), []).append((key, entry_id))
        self._fuzzy = FuzzyIndex(entries)
        self._cache: dict[str, str | None] = {}

    def resolve(self, span: str) -> str | None:
        """The id a span names, or None when no name is close enough or several are equally close."""
        if span in self.ids:
            return span
        if span not in self._cache:
            if len(self._cache) > 10_000:  # spans are citizens' text: bound the memory they can take
                self._cache.clear()
            self._cache[span] = self._resolve(span)
        return self._cache[span]

    def _resolve(self, span: str) -> str | None:
        key = name_key(span)
        if not key or len(key) > MAX_SPAN_WORDS:
            return None
        found = self._exact.get(key) or self._contained(key) or self._contained_misspelt(key)
        if found:
            return found
        matches = self._fuzzy.search(span, threshold=FUZZY_THRESHOLD)
        return matches[0].id if len(matches) == 1 else None

    def _contained(self, key: tuple[str, ...]) -> str | None:
        """The entry of the longest name found word for word inside the span; None when the longest are ambiguous."""
        for size in range(min(len(key), self._longest), 0, -1):
            found = {
                self._exact[key[i : i + size]] for i in range(len(key) - size + 1) if key[i : i + size] in self._exact
            }
            if len(found) == 1:
                return found.pop()
            if found:
                return None
        return None

    def _contained_misspelt(self, key: tuple[str, ...]) -> str | None:
        """As `_contained`, each word of the name matching a word of the span perhaps misspelt."""
        for size in range(min(len(key), self._longest), 0, -1):
            grams = [key[i : i + size] for i in range(len(key) - size + 1)]
            found = {
                entry_id
                for name, entry_id in self._by_size.get(size, ())
                for gram in grams
                if all(same_word(word, typed) for word, typed in zip(name, gram, strict=True))
            }
            if len(found) == 1:
                return found.pop()
            if found:
                return None
        return None


class CatalogNames:
    """The name tables of one catalog, by NLU entity: `service`, `procedure` and `problem_type`."""

    def __init__(self, catalog: Catalog) -> None:
        services = ((s.id, s.name, (s.label, *s.aliases)) for s in catalog.services.values())
        procedures = ((p.id, p.name, (p.label, *p.aliases)) for p in catalog.procedures.values())
        categories = (
            (code, display.split(" (")[0], catalog.categories[code].aliases if code in catalog.categories else ())
            for code, display in PROBLEM_TYPES.items()
        )
        self.tables = {
            "service": NameTable(services),
            "procedure": NameTable(procedures),
            "problem_type": NameTable(categories),
        }

    def resolve(self, entity: str, span: str) -> str | None:
        """The canonical value of a span of `entity`; None for another entity or when nothing matches well enough."""
        table = self.tables.get(entity)
        return table.resolve(span) if table else None
