"""The rules that fit a dialogue state, looked up once per state instead of on every prediction.

Replaces `RulePolicy._get_possible_keys`. RulePolicy predicts at least twice per message (the answer, then
`action_listen`); each time it filters every learned rule against the conversation's last turns (each rule key
parsed back into states and compared turn by turn). The result only depends on the rules and on the states, and a
town's conversations go through the same states again and again: the keys that fit are kept per (rules, states), in
a bounded LRU per policy and process. Rules do not change while a server runs (the lookup is built by training).
Nothing personal is kept: the states are intent, entity, slot and action names with featurized slot values.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from rasa.core.policies.rule_policy import RulePolicy

from bot.speedups._patching import replace

TARGETS = ("rasa.core.policies.rule_policy.RulePolicy._get_possible_keys",)

CACHE_ATTRIBUTE = "_guichet_rule_keys"
CACHE_SIZE = 2048


def install() -> None:
    """Remember, per RulePolicy of this process, which rules fit a dialogue state."""
    replace(RulePolicy, "_get_possible_keys", remembered, by=__name__)


def remembered(original: Callable[..., set[str]]) -> Callable[..., set[str]]:
    """Rasa's `_get_possible_keys`, its answers kept per (rules, states) on the policy."""

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

    return get_possible_keys
