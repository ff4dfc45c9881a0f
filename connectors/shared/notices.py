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
    voice_not_heard: str = "Je ne vous ai pas entendu. Posez votre question en quelques mots."
    voice_confirm: str = "J'ai compris : « {heard} ». C'est bien cela ? Dites oui, ou non."
    voice_repeat: str = "Pardon. Pouvez-vous répéter, en quelques mots ?"
    voice_offer_switchboard: str = (
        "Je n'arrive pas à bien vous comprendre. Voulez-vous parler à un agent de la mairie ? "
        "Dites oui, ou tapez 1. Sinon, dites non, ou tapez 2."
    )
    voice_switchboard_declined: str = "D'accord. Posez votre question en quelques mots."
    voice_menu_choice: str = "Pour {title}, tapez {digit}."
    voice_menu_prompt: str = "Vous pouvez aussi dire votre choix."
    voice_goodbye: str = "Merci de votre appel. Au revoir."
    voice_whisper: str = "Appel transféré par l'assistant de la mairie. Sujet : {topic}."
    voice_whisper_plain: str = "Appel transféré par l'assistant de la mairie."
    voice_transfer_unavailable: str = (
        "Je ne peux pas transférer votre appel pour le moment. Merci de rappeler la mairie un peu plus tard. Au revoir."
    )
    voice_transfer_no_answer: str = (
        "L'accueil de la mairie n'a pas pu prendre votre appel. Merci de rappeler un peu plus tard. Au revoir."
    )
    voice_offer_sms: str = (
        "Voulez-vous aussi recevoir cette référence par SMS sur ce téléphone, avec son suivi ? "
        "Dites oui, ou tapez 1. Sinon, dites non, ou tapez 2."
    )
    voice_sms_queued: str = (
        "C'est noté : vous allez recevoir la référence par SMS, puis son suivi. Répondez STOP pour l'arrêter. "
        "Puis-je vous aider pour autre chose ?"
    )
    voice_sms_declined: str = "D'accord, pas de SMS. Puis-je vous aider pour autre chose ?"
    voice_sms_failed: str = (
        "Je n'ai pas pu préparer le SMS pour le moment. Notez bien la référence. Puis-je vous aider pour autre chose ?"
    )
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
