"""French the town's settings slip into sentences: « Ville de Pau » but « Ville d'Orthez ».

domain.yml writes « de {town_name} »; French elides « de » before a vowel sound. A town name that starts with a vowel
(accented or not) takes « d' »; one that starts with an « h » is left as written (« de Hagetmau », « de Hendaye » — an
aspirated h is common in Gascon and Basque names, and « de » is never wrong enough to mislead).
"""

from __future__ import annotations

import re

VOWELS = "aeiouyàâäéèêëîïôöùûüÿæœ"


def elides(name: str) -> bool:
    """Whether « de » before this name becomes « d' »."""
    return bool(name) and name[0].lower() in VOWELS


def of_town(name: str) -> str:
    """« de Pau », « d'Orthez »."""
    return f"d'{name}" if elides(name) else f"de {name}"


def elide_before(text: str, name: str) -> str:
    """`text` with every « de <name> » / « De <name> » elided when the name calls for it."""
    if not elides(name):
        return text
    return re.sub(rf"\b([Dd])e {re.escape(name)}\b", lambda m: f"{m.group(1)}'{name}", text)
