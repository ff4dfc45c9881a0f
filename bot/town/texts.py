"""Citizen-facing French read from domain.yml responses, for the messages that leave without the rasa server.

The channels' own notices (connectors/shared/notices.py) and the fallback e-mails (bot/town/mail.py) are sent
without a conversation turn, so no Rasa response generator renders them; they still live in domain.yml, and this is
the one reader of their text.
"""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

logger = logging.getLogger(__name__)


def first_texts(domain_path: Path, prefix: str) -> dict[str, str]:
    """The first text of each response whose name starts with `prefix`, by the rest of its name (empty on error)."""
    if not domain_path.is_file():
        return {}
    try:
        domain = yaml.safe_load(domain_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        logger.exception("Could not read responses from %s", domain_path)
        return {}
    texts = {}
    for name, variants in (domain.get("responses") or {}).items():
        if str(name).startswith(prefix) and isinstance(variants, list):
            first = next((v.get("text") for v in variants if isinstance(v, dict) and v.get("text")), None)
            if first:
                texts[str(name)[len(prefix) :]] = str(first)
    return texts
