"""Adding and removing a service's exceptional closures in its catalog document, with errors staff can act on.

Staff (the command line, the console) name a closure by its service and first day. A closure added here may not share
a day with another closure of the service, so that its first day finds it again and the assistant never has two
reasons for one day; removing by first day removes every closure that starts that day (files may hold a partial
closure and another on the same day).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date
from typing import Any


class ClosureError(ValueError):
    """A closure change that cannot be made; the message is in French then English, for staff and for scripts."""

    def __init__(self, french: str, english: str) -> None:
        self.french, self.english = french, english
        super().__init__(f"{french} / {english}")


@dataclass(frozen=True)
class ClosureSpan:
    """The days and reason of a closure as written in a service document."""

    start: date
    end: date
    reason: str

    def overlaps(self, start: date, end: date) -> bool:
        """Whether the closure shares a day with [start, end]."""
        return self.start <= end and start <= self.end


def parse_day(text: str, option: str) -> date:
    """A YYYY-MM-DD date typed by staff; ClosureError naming the option otherwise."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ClosureError(
            f"{option} : « {text} » n'est pas une date (AAAA-MM-JJ)", f"{option}: '{text}' is not a date (YYYY-MM-DD)"
        ) from None


def closure_spans(document: dict[str, Any]) -> list[ClosureSpan]:
    """The closures of a (validated, canonical) service document."""
    spans = []
    for raw in document.get("closures") or []:
        start = date.fromisoformat(str(raw.get("date") or raw.get("from")))
        end = date.fromisoformat(str(raw.get("date") or raw.get("to")))
        spans.append(ClosureSpan(start, end, str(raw.get("reason", ""))))
    return spans


def with_closure(document: dict[str, Any], start: date, end: date | None, reason: str) -> dict[str, Any]:
    """A copy of the service document with a whole-day closure from `start` to `end` (one day when None) added."""
    end = end or start
    service = document.get("id", "?")
    if end < start:
        raise ClosureError(
            f"la date de fin {end} précède la date de début {start}", f"--to {end} is before --from {start}"
        )
    if not reason.strip():
        raise ClosureError("motif manquant (--reason)", "missing reason (--reason)")
    for span in closure_spans(document):
        if span.overlaps(start, end):
            raise ClosureError(
                f"{service} a déjà une fermeture du {span.start} au {span.end} ({span.reason}) sur ces dates",
                f"{service} already has a closure from {span.start} to {span.end} ({span.reason}) on these dates",
            )
    entry: dict[str, Any] = (
        {"date": start.isoformat()} if start == end else {"from": start.isoformat(), "to": end.isoformat()}
    )
    entry["reason"] = reason.strip()
    changed = copy.deepcopy(document)
    closures = [*(changed.get("closures") or []), entry]
    changed["closures"] = sorted(closures, key=lambda raw: str(raw.get("date") or raw.get("from")))
    return changed


def without_closure(document: dict[str, Any], start: date) -> dict[str, Any]:
    """A copy of the service document without the closure that starts on `start`."""
    spans = closure_spans(document)
    kept = [raw for raw, span in zip(document.get("closures") or [], spans, strict=True) if span.start != start]
    if len(kept) == len(spans):
        service = document.get("id", "?")
        known = ", ".join(str(span.start) for span in spans)
        raise ClosureError(
            f"{service} n'a pas de fermeture qui commence le {start} (fermetures : {known or 'aucune'})",
            f"{service} has no closure starting on {start} (closures: {known or 'none'})",
        )
    changed = copy.deepcopy(document)
    if kept:
        changed["closures"] = copy.deepcopy(kept)
    else:
        changed.pop("closures", None)
    return changed
