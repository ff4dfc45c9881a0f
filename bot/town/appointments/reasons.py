"""Why a citizen comes to the counter (DESIGN.md §4 `appointment_reason`), the national portal's codes for the
reasons it handles, and the pre-application number (« numéro de pré-demande ») it de-duplicates bookings by."""

from __future__ import annotations

import re

# appointment_reason values -> the Rendez-vous en mairie portal's reason code (None: not an ANTS appointment)
REASONS: dict[str, str | None] = {
    "carte_identite": "CNI",
    "passeport": "PASSPORT",
    "carte_identite_passeport": "CNI-PASSPORT",
    "etat_civil": None,
    "urbanisme": None,
}
REASON_LABELS: dict[str, str] = {
    "carte_identite": "carte d'identité",
    "passeport": "passeport",
    "carte_identite_passeport": "carte d'identité et passeport",
    "etat_civil": "état civil",
    "urbanisme": "urbanisme",
}
ANTS_CODES: dict[str, str] = {code: reason for reason, code in REASONS.items() if code}

_APPLICATION_ID = re.compile(r"[A-Z0-9]{10}")


def ants_code(reason: str) -> str | None:
    """The portal's code of an appointment reason (CNI, PASSPORT, CNI-PASSPORT), None for the town's own reasons."""
    return REASONS.get(reason)


def normalise_application_id(text: str) -> str | None:
    """A pre-application number as stored: 10 letters and digits, upper-cased (spaces and dashes ignored); None
    when `text` is not one."""
    candidate = re.sub(r"[\s\-.]", "", text or "").upper()
    return candidate if _APPLICATION_ID.fullmatch(candidate) else None
