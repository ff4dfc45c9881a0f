"""Masking of Rasa tracker events (as serialised dicts) before the tracker store keeps them."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from bot.privacy.masking import mask_text

# Keys whose values are machine data, not text a person wrote: button payloads drive the dialogue.
_MACHINE_KEYS = frozenset({"payload"})


def mask_event(
    event: dict[str, Any], keep: Iterable[str] = frozenset(), keep_slots: Iterable[str] = frozenset()
) -> dict[str, Any]:
    """A copy of a serialised Rasa event with personal data masked in citizen text, bot text and slot values."""
    keep = frozenset(keep)
    masked = copy.deepcopy(event)
    kind = event.get("event")
    if kind == "user":
        for key in ("text", "parse_data", "metadata"):
            if key in masked:
                masked[key] = mask_value(masked[key], keep)
    elif kind == "bot":
        for key in ("text", "data", "metadata"):
            if key in masked:
                masked[key] = mask_value(masked[key], keep)
    elif kind == "slot" and event.get("name") not in frozenset(keep_slots):
        masked["value"] = mask_value(masked.get("value"), keep)
    elif kind == "entities":
        masked["entities"] = mask_value(masked.get("entities"), keep)
    return masked


def mask_events(
    events: Iterable[dict[str, Any]], keep: Iterable[str] = frozenset(), keep_slots: Iterable[str] = frozenset()
) -> list[dict[str, Any]]:
    """`mask_event` applied to each event, in order."""
    keep, keep_slots = frozenset(keep), frozenset(keep_slots)
    return [mask_event(event, keep, keep_slots) for event in events]


def mask_value(value: Any, keep: frozenset[str] = frozenset()) -> Any:
    """`value` with every string inside it masked (dicts and lists walked; payloads, numbers, None as they are)."""
    if isinstance(value, str):
        return mask_text(value, keep)
    if isinstance(value, dict):
        return {k: v if k in _MACHINE_KEYS else mask_value(v, keep) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_value(item, keep) for item in value)
    return value
