"""TED that remembers its predictions per dialogue state (a speed-up: on only while `bot.speedups.active()`).

TED (Rasa's transformer dialogue policy) runs at least twice per message (the action that answers, then
`action_listen`), a TensorFlow call each time. Its input is only the featurized dialogue state: the last
`max_history` turns of intents, entity names, slots, active loop and previous actions, exactly what
`prediction_states` returns. The same state gives the same prediction, and a town's conversations go through a small
number of states again and again (greeting, opening hours of a service, a report's questions). `CachedTEDPolicy`
keys its predictions on that state and reuses them: identical predictions, computed once per state and process.

It is a policy named in config.yml (Rasa's extension point, not a patch), so it is part of the trained model; the
cache itself is a speed-up and works only when the process installed them (RASA_SPEEDUPS=on): with them off, or
under plain `rasa test core`, every prediction is TED's own. The cache is also bypassed when TED reads the
message's text itself (end-to-end stories), since the text is not part of the state. It is a bounded LRU, per
process; nothing in it is personal data (intent and slot names, featurized slot values).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from rasa.core.policies.policy import PolicyPrediction, SupportedData
from rasa.core.policies.ted_policy import TEDPolicy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import TEXT

from bot import speedups

CACHE_SIZE = 4096


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITH_END_TO_END_SUPPORT, is_trainable=True)
class CachedTEDPolicy(TEDPolicy):
    """TEDPolicy whose predictions are reused for a dialogue state it has already seen."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._predictions: OrderedDict[str, PolicyPrediction] = OrderedDict()
        self.cache_hits = 0
        self.cache_misses = 0

    def _state_key(self, tracker: DialogueStateTracker, domain: Domain, rule_only_data: dict[str, Any] | None) -> str:
        """The dialogue state TED featurizes for this prediction, as a string (the same arguments as TED's own)."""
        ml_only = self.supported_data() == SupportedData.ML_DATA
        states = self.featurizer.prediction_states(
            [tracker],
            domain,
            use_text_for_last_user_input=False,
            ignore_rule_only_turns=ml_only,
            rule_only_data=rule_only_data,
            ignore_action_unlikely_intent=ml_only,
        )
        return json.dumps(states, sort_keys=True, default=repr)

    def _cacheable(self) -> bool:
        """True when the prediction depends on the dialogue state only (no end-to-end text features)."""
        return speedups.active() and self.model is not None and not self.only_e2e and TEXT not in self.fake_features

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        precomputations: Any = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        """TED's prediction, from the cache when this state was predicted before."""
        if not self._cacheable():
            return super().predict_action_probabilities(tracker, domain, rule_only_data, precomputations, **kwargs)
        key = self._state_key(tracker, domain, rule_only_data)
        cached = self._predictions.get(key)
        if cached is None:
            self.cache_misses += 1
            cached = super().predict_action_probabilities(tracker, domain, rule_only_data, precomputations, **kwargs)
            self._predictions[key] = cached
            if len(self._predictions) > CACHE_SIZE:
                self._predictions.popitem(last=False)
        else:
            self.cache_hits += 1
            self._predictions.move_to_end(key)
        # A fresh object each time: the ensemble edits probabilities in place (it zeroes a rejected action).
        return self._prediction(
            list(cached.probabilities),
            events=list(cached.events),
            optional_events=list(cached.optional_events),
            is_end_to_end_prediction=cached.is_end_to_end_prediction,
            diagnostic_data=cached.diagnostic_data,
        )
