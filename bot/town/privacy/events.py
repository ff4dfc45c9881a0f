"""Masking of Rasa tracker events (as serialised dicts) before the tracker store keeps them."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from bot.town.privacy.masking import mask_text

# Keys whose values are machine data, not text a person wrote: button payloads drive the dialogue.
_MACHINE_KEYS = frozenset({"payload"})
_MASKED_KEYS = {"user": ("text", "parse_data", "metadata"), "bot": ("text", "data", "metadata")}


def mask_event(
    event: dict[str, Any], keep: Iterable[str] = frozenset(), keep_slots: Iterable[str] = frozenset()
) -> dict[str, Any]:
    """A copy of a serialised Rasa event with personal data masked in citizen text, bot text and slot values.

    The masked values are built anew by `mask_value`; only the other values are copied (a deep copy of a user
    event's parse data, thrown away at once, used to cost more than the masking itself).
    """
    keep = frozenset(keep)
    kind = event.get("event")
    masked_keys: tuple[str, ...] = _MASKED_KEYS.get(str(kind), ())
    if kind == "slot" and event.get("name") not in frozenset(keep_slots):
        masked_keys = ("value",)
    elif kind == "entities":
        masked_keys = ("entities",)
    masked = {key: value if key in masked_keys else copy.deepcopy(value) for key, value in event.items()}
    for key in masked_keys:
        if key in event or key in ("value", "entities"):
            masked[key] = mask_value(event.get(key), keep)
    return masked


def mask_events(
    events: Iterable[dict[str, Any]], keep: Iterable[str] = frozenset(), keep_slots: Iterable[str] = frozenset()
) -> list[dict[str, Any]]:
    """`mask_event` applied to each event, in order."""
    keep, keep_slots = frozenset(keep), frozenset(keep_slots)
    return [mask_event(event, keep, keep_slots) for event in events]


def mask_value(value: Any, keep: frozenset[str] = frozenset()) -> Any:
    """A copy of `value` with every string inside it masked (dicts and lists walked; payloads, numbers, None as
    they are)."""
    if isinstance(value, str):
        return mask_text(value, keep)
    if isinstance(value, dict):
        return {k: copy.deepcopy(v) if k in _MACHINE_KEYS else mask_value(v, keep) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_value(item, keep) for item in value)
    return copy.deepcopy(value)
