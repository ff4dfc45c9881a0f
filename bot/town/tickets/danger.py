"""Danger in a report (gas, fallen power line, flooding, collapsed road, fire): such reports get the emergency numbers
first, and their tickets are urgent."""

from __future__ import annotations

import re
import unicodedata
from enum import Enum


class Danger(str, Enum):
    """A kind of immediate danger a citizen may describe."""

    GAS = "gaz"
    ELECTRICITY = "electricite"
    FLOOD = "inondation"
    COLLAPSE = "effondrement"
    FIRE = "feu"


# Patterns run on folded text (lower case, no accents, single spaces), so "câble électrique tombé" and
# "cable electrique tombe" read the same.
_PATTERNS: dict[Danger, tuple[re.Pattern[str], ...]] = {
    Danger.GAS: (re.compile(r"\bgaz\b"),),
    Danger.ELECTRICITY: (
        re.compile(r"\b(?:cables?|fils?|lignes?|poteaux?)\s+(?:electriques?|edf|haute tension)\b"),
        re.compile(r"\bcables?\b(?:\s+\w+){0,3}\s+(?:tombes?|arraches?|pend\w*|au sol|a terre|denudes?)\b"),
        re.compile(r"\belectrocut\w*|\bhaute tension\b"),
    ),
    Danger.FLOOD: (re.compile(r"\binond\w*|\bsubmerg\w*|\bcrue\b|\bl eau (?:rentre|monte|entre)\b"),),
    Danger.COLLAPSE: (
        re.compile(r"\b(?:s )?effondr\w*|\baffaiss\w*|\becroul\w*|\bmenace de tomber\b"),
        re.compile(r"\b(?:chaussee|route|trottoir|pont|mur|sol)\s+(?:\w+\s+){0,2}(?:cede|ouverte?|enfonce\w*)\b"),
    ),
    Danger.FIRE: (
        re.compile(r"\bincendi\w*|\bflammes?\b|\ben feu\b|\bprend\w* feu\b|\bbrule\b|\bfumee noire\b"),
        # "feu" alone, but not the traffic lights ("feu rouge", "feux tricolores", "feu pieton").
        re.compile(
            r"\bfeux?\b(?!\s+(?:rouges?|verts?|orange|tricolores?|pietons?|de signalisation|de circulation"
            r"|clignot\w*|en panne|d artifice|arriere\w*|de position))"
        ),
    ),
}


def fold(text: str) -> str:
    """Lower-case, accentless text with punctuation turned into single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.replace("œ", "oe"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain).split())


def detect_danger(text: str | None) -> frozenset[Danger]:
    """The kinds of immediate danger `text` describes (empty when none)."""
    if not text:
        return frozenset()
    folded = fold(text)
    return frozenset(kind for kind, patterns in _PATTERNS.items() if any(p.search(folded) for p in patterns))


def is_dangerous(text: str | None) -> bool:
    """Whether `text` describes an immediate danger."""
    return bool(detect_danger(text))
