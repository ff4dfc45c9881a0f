"""Ticket categories (the NLU `problem_type` values, also Open311 `service_code`) and the French lifecycle."""

from __future__ import annotations

from types import MappingProxyType

# Service names shown to back-office tools through Open311 services.json (French, the town's language).
PROBLEM_TYPES: MappingProxyType[str, str] = MappingProxyType(
    {
        "voirie": "Voirie (nids-de-poule, chaussée, trottoirs)",
        "eclairage_public": "Éclairage public (lampadaire éteint ou endommagé)",
        "proprete": "Propreté (dépôts sauvages, déchets sur la voie publique)",
        "collecte_dechets": "Collecte des déchets (bac non collecté, bac abîmé)",
        "graffiti": "Graffitis et affichage sauvage",
        "espaces_verts": "Espaces verts (arbres, parcs, massifs)",
        "mobilier_urbain": "Mobilier urbain (bancs, abribus, barrières, jeux)",
        "signalisation": "Signalisation (panneaux, feux, marquage au sol)",
        "eau_assainissement": "Eau et assainissement (fuite, égout, avaloir bouché)",
        "stationnement": "Stationnement gênant ou abusif",
        "animaux": "Animaux (errants, nuisibles, animal mort)",
        "bruit": "Bruit et nuisances sonores",
        "autre": "Autre problème dans l'espace public",
    }
)

SERVICE_GROUPS: MappingProxyType[str, str] = MappingProxyType(
    {
        "voirie": "Voirie et déplacements",
        "eclairage_public": "Voirie et déplacements",
        "signalisation": "Voirie et déplacements",
        "stationnement": "Voirie et déplacements",
        "mobilier_urbain": "Voirie et déplacements",
        "proprete": "Propreté et déchets",
        "collecte_dechets": "Propreté et déchets",
        "graffiti": "Propreté et déchets",
        "espaces_verts": "Cadre de vie",
        "eau_assainissement": "Cadre de vie",
        "animaux": "Cadre de vie",
        "bruit": "Tranquillité publique",
        "autre": "Divers",
    }
)

# French lifecycle state -> Open311 status.
STATES: MappingProxyType[str, str] = MappingProxyType(
    {
        "nouveau": "open",
        "pris_en_charge": "open",
        "planifie": "open",
        "traite": "closed",
        "non_retenu": "closed",
    }
)
INITIAL_STATE = "nouveau"


def open311_status(state: str) -> str:
    """The Open311 status (open/closed) of a French lifecycle state."""
    try:
        return STATES[state]
    except KeyError:
        raise ValueError(f"unknown ticket state {state!r}") from None


def is_problem_type(code: str | None) -> bool:
    """Whether `code` is a known ticket category."""
    return code in PROBLEM_TYPES
