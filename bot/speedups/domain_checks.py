"""Whether the domain is empty, answered once per domain instead of on every message.

Rasa 3.6 asks it for every parsed message (`MessageProcessor._check_for_unseen_features`) and answers by serialising
the whole domain, and an empty one, to compare them: about 0.2 ms a message, a hundredth of a rasa worker's main
thread under load (py-spy, ad hoc). A loaded domain does not change while the server runs, so its answer is kept on
the domain object; a domain built differently is a new object and gets its own answer.
"""

from __future__ import annotations

import functools

from rasa.shared.core.domain import Domain

ANSWER_ATTRIBUTE = "_guichet_is_empty"


def install() -> None:
    """Remember each domain's answer to `is_empty` (idempotent)."""
    original = Domain.is_empty
    if getattr(original, "guichet_remembered", False):
        return

    @functools.wraps(original)
    def is_empty(self: Domain) -> bool:
        answer = self.__dict__.get(ANSWER_ATTRIBUTE)
        if answer is None:
            answer = self.__dict__[ANSWER_ATTRIBUTE] = original(self)
        return bool(answer)

    is_empty.guichet_remembered = True  # type: ignore[attr-defined]
    Domain.is_empty = is_empty  # type: ignore[method-assign]
