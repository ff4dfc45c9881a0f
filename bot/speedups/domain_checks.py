"""Whether the domain is empty, answered once per domain instead of on every message.

Replaces `Domain.is_empty`. Rasa 3.6 asks it for every parsed message (`MessageProcessor._check_for_unseen_features`)
and answers by serialising the whole domain, and an empty one, to compare them. A loaded domain does not change
while the server runs, so its answer is kept on the domain object; a domain built differently is a new object and
gets its own answer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from rasa.shared.core.domain import Domain

from bot.speedups._patching import replace

TARGETS = ("rasa.shared.core.domain.Domain.is_empty",)

ANSWER_ATTRIBUTE = "_guichet_is_empty"


def install() -> None:
    """Remember each domain's answer to `is_empty`."""
    replace(Domain, "is_empty", remembered, by=__name__)


def remembered(original: Callable[[Domain], bool]) -> Callable[[Domain], bool]:
    """Rasa's `is_empty`, its answer kept on the domain."""

    @functools.wraps(original)
    def is_empty(self: Domain) -> bool:
        answer = self.__dict__.get(ANSWER_ATTRIBUTE)
        if answer is None:
            answer = self.__dict__[ANSWER_ATTRIBUTE] = original(self)
        return bool(answer)

    return is_empty
