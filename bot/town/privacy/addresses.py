"""Masking of street addresses (house number and street) for staff review screens and exports.

Only where staff read conversations: a report's location must stay readable in its ticket, so the
masking done before storage (`mask_text`) leaves addresses alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.town.privacy.masking import Match, find_personal_data, normalize, replace_matches

_STREET_TYPES = (
    r"rue|ruelle|avenue|av\.?|ave|boulevard|bd|blvd|bld|boul\.?|place|pl\.|cours|all[ée]es?|chemin|ch\.|"
    r"impasse|imp\.?|route|rte|quai|square|passage|esplanade|rond[- ]point|sentier|lotissement|lot\.|"
    r"r[ée]sidence|cit[ée]|faubourg|fbg|hameau|voie|mont[ée]e|promenade|parvis|chauss[ée]e|villa|cour"
)
_PARTICLE = r"(?:de\s+la\s+|de\s+l['’]\s*|du\s+|des\s+|de\s+|d['’]\s*|l['’]\s*|la\s+|le\s+|les\s+|aux\s+|au\s+)"
# Words that announce the rest of a name ("rue du maréchal joffre"), so one more word belongs to it.
_TITLES = (
    r"mar[ée]chal|g[ée]n[ée]ral|pr[ée]sident|docteur|dr\.?|saint|sainte|st|ste|abb[ée]|colonel|"
    r"commandant|capitaine|lieutenant|professeur|cardinal|amiral|comte|duc|roi|reine"
)
_WORD = r"(?:\d{1,2}(?:er)?\s+)?[^\W\d_][\w'’-]*"
_ADDRESS = re.compile(
    r"(?<![\w,.])\d{1,4}(?:\s?(?i:bis|ter|quater|[abc])(?!\w))?"  # house number, "12", "12 bis", "12b"
    r"\s*,?\s*"
    rf"(?i:{_STREET_TYPES})(?!\w)\.?\s+"  # street type, any case
    rf"(?i:{_PARTICLE})?(?:(?i:{_TITLES})\s+(?i:{_PARTICLE})?)?{_WORD}"  # first word of the name
    rf"(?:\s+(?i:{_PARTICLE})?[A-ZÀ-ÖØ-Þ][\w'’-]*)*"  # further capitalised words ("Henri IV")
)


def find_addresses(text: str, keep: Iterable[str] = frozenset()) -> list[Match]:
    """Street addresses with a house number in `text`, except those listed in `keep`."""
    kept = {normalize("address", value) for value in keep}
    matches = (Match("address", m.span(), m.group()) for m in _ADDRESS.finditer(text))
    return [m for m in matches if normalize("address", m.value) not in kept]


def mask_for_review(text: str, keep: Iterable[str] = frozenset()) -> str:
    """`text` as staff may read it: personal data and street addresses replaced by placeholders."""
    keep = frozenset(keep)
    found = find_personal_data(text, keep)
    found += [a for a in find_addresses(text, keep) if not any(_overlaps(a, m) for m in found)]
    return replace_matches(text, sorted(found, key=lambda m: m.span))


def _overlaps(a: Match, b: Match) -> bool:
    return a.span[0] < b.span[1] and b.span[0] < a.span[1]
