"""The rules that fit a dialogue state, looked up once per state instead of on every prediction.

RulePolicy predicts at least twice per message (the answer, then `action_listen`). Each time it filters every
learned rule against the conversation's last turns (`_get_possible_keys`: each rule key parsed back into states and
compared turn by turn), about a fifteenth of a rasa worker's main thread under load (py-spy, ad hoc). The result only
depends on the rules and on the states, and a town's conversations go through the same states again and again: the
keys that fit are kept per (rules, states), in a bounded LRU per policy and process. Rules do not change while a
server runs (the lookup is built by training); the cache is installed only by the rasa server. Predictions are
Rasa's (tests/integration/speedups/test_rule_lookup.py). Nothing personal is kept: the states are intent, entity, slot and
action names with featurized slot values.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Any

from rasa.core.policies.rule_policy import RulePolicy

CACHE_ATTRIBUTE = "_guichet_rule_keys"
CACHE_SIZE = 2048


def install() -> None:
    """Remember, per RulePolicy of this process, which rules fit a dialogue state (idempotent)."""
    original = RulePolicy._get_possible_keys
    if getattr(original, "guichet_remembered", False):
        return

    @functools.wraps(original)
    def get_possible_keys(self: RulePolicy, lookup: dict[str, str], states: list[Any]) -> set[str]:
        cache: OrderedDict[tuple[int, int, str], tuple[dict[str, str], frozenset[str]]]
        cache = self.__dict__.setdefault(CACHE_ATTRIBUTE, OrderedDict())
        key = (id(lookup), len(lookup), repr(states))
        found = cache.get(key)
        if found is not None and found[0] is lookup:
            cache.move_to_end(key)
            return set(found[1])
        keys = original(self, lookup, states)
        cache[key] = (lookup, frozenset(keys))
        if len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
        return set(keys)

    get_possible_keys.guichet_remembered = True  # type: ignore[attr-defined]
    RulePolicy._get_possible_keys = get_possible_keys  # type: ignore[method-assign]
