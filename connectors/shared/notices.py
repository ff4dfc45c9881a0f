"""Short answers a channel gives by itself, without the assistant (rate limit, too long, unsupported content...).

Their text comes from domain.yml responses named `utter_channel_<field>` when the domain has them, from the
channel's `notices:` credentials when set, and otherwise from the French defaults below.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.town.texts import first_texts

logger = logging.getLogger(__name__)

RESPONSE_PREFIX = "utter_channel_"


@dataclass(frozen=True)
class Notices:
    """The channel-level texts; `{max_chars}` and `{choices}` are filled in when sent."""

    rate_limited: str = "Vous envoyez beaucoup de messages. Merci de patienter une minute avant de réécrire."
    too_long: str = "Votre message est trop long. Merci de l'écrire en moins de {max_chars} caractères."
    empty: str = "Je n'ai pas reçu de texte. Écrivez votre question en quelques mots."
    unsupported_content: str = (
        "Je ne sais pas lire ce type de contenu. Écrivez votre question, "
        "ou envoyez une photo ou votre position pour un signalement."
    )
    button_expired: str = "Ce choix n'est plus disponible. Écrivez votre demande en quelques mots."
    unavailable: str = "Le service est momentanément indisponible. Merci de réessayer dans quelques minutes."
    sms_opted_out: str = "Vous ne recevrez plus de SMS de notre part. Envoyez START pour les réactiver."
    sms_opted_in: str = "Les SMS sont réactivés. Envoyez AIDE pour savoir ce que je peux faire."
    sms_more_hint: str = "(suite : envoyez SUITE)"
    sms_nothing_more: str = "Il n'y a pas de suite à afficher. Posez votre question en quelques mots."
    sms_menu_prompt: str = "Répondez {choices}."
    sms_menu_or: str = "ou"
    location_text: str = "Position partagée"
    photo_text: str = "Photo jointe"

    def render(self, field: str, **values: Any) -> str:
        """The text of `field` with its placeholders filled in."""
        template: str = getattr(self, field)
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError):
            logger.warning("Notice %s has an unknown placeholder; sent as written.", field)
            return template


def texts_from_domain(domain_path: Path) -> dict[str, str]:
    """The first text of each `utter_channel_*` response in a domain file (empty if there is none)."""
    return first_texts(domain_path, RESPONSE_PREFIX)


def load_notices(domain_path: Path | None = None, overrides: dict[str, Any] | None = None) -> Notices:
    """Notices from the domain, then credentials overrides, over the French defaults."""
    known = {f.name for f in dataclasses.fields(Notices)}
    values = texts_from_domain(domain_path) if domain_path else {}
    values.update({k: str(v) for k, v in (overrides or {}).items() if v is not None})
    unknown = set(values) - known
    if unknown:
        logger.warning("Ignoring unknown channel notices: %s", ", ".join(sorted(unknown)))
    return Notices(**{k: v for k, v in values.items() if k in known})
