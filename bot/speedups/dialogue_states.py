"""A conversation's dialogue states, worked out once per tracker instead of once per policy that asks.

Replaces `Domain.states_for_tracker_history`. To predict one action, Rasa's policies each ask the domain for the
states of the whole conversation so far: memoization, rules (two or three times, with and without rule-only turns)
and TED (twice with its cache: its key, then its prediction). Each time the domain replays every event into a fresh
tracker and builds the state before every action; the answers differ only in how rule-only turns are filtered
afterwards.

Here the replay and the states before each action are computed once per tracker, domain and `omit_unset_slots`,
kept on the tracker (the same object goes to every policy; a tracker with a new event is computed again), and
every call filters a copy exactly as Rasa does.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from rasa.shared.core.constants import PREVIOUS_ACTION

from bot.speedups._patching import replace

TARGETS = ("rasa.shared.core.domain.Domain.states_for_tracker_history",)

CACHE_ATTRIBUTE = "_guichet_dialogue_turns"


@dataclass(frozen=True)
class _Turn:
    """What Rasa's loop reads of the tracker before one action."""

    state: dict[str, dict[str, Any]]  # Domain.get_active_state of the tracker at that point
    hide_rule_turn: bool  # the action's own flag
    may_change_hidden: bool  # neither a follow-up action nor the active loop's own (happy path) prediction
    previous_action: dict[str, Any] | None  # Domain._get_prev_action_sub_state of the tracker at that point


def _copy(state: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A copy of a state that Rasa's filtering can change (its values are strings and tuples)."""
    return {kind: dict(sub_state) for kind, sub_state in state.items()}


def _turns(domain: Any, tracker: Any, omit_unset_slots: bool) -> list[_Turn]:
    """The tracker's turns, from its cache when it has seen no event since they were computed."""
    cache: dict[tuple[int, bool], tuple[int, Any, list[_Turn]]] = tracker.__dict__.setdefault(CACHE_ATTRIBUTE, {})
    events = tracker.events
    length, last = len(events), (events[-1] if events else None)
    found = cache.get((id(domain), omit_unset_slots))
    if found is not None and found[0] == length and found[1] is last:
        return found[2]
    turns = []
    for prior, hide_rule_turn in tracker.generate_all_prior_trackers():
        previous = domain._get_prev_action_sub_state(prior)
        turns.append(
            _Turn(
                state=domain.get_active_state(prior, omit_unset_slots=omit_unset_slots),
                hide_rule_turn=hide_rule_turn,
                may_change_hidden=not prior.followup_action and not prior.latest_action_name == prior.active_loop_name,
                previous_action=dict(previous) if previous is not None else None,
            )
        )
    cache[(id(domain), omit_unset_slots)] = (length, last, turns)
    return turns


def states_for_tracker_history(
    domain: Any,
    tracker: Any,
    omit_unset_slots: bool = False,
    ignore_rule_only_turns: bool = False,
    rule_only_data: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Rasa 3.6's Domain.states_for_tracker_history, step for step, on the tracker's computed turns."""
    states: list[dict[str, Any]] = []
    last_ml_action_sub_state = None
    turn_was_hidden = False
    for turn in _turns(domain, tracker, omit_unset_slots):
        if ignore_rule_only_turns:
            # remember the previous ml action from the last turn that was not hidden
            if not turn_was_hidden:
                last_ml_action_sub_state = turn.previous_action
            if turn.may_change_hidden:
                turn_was_hidden = turn.hide_rule_turn
            if turn_was_hidden:
                continue
        state = _copy(turn.state)
        if ignore_rule_only_turns:
            domain._remove_rule_only_features(state, rule_only_data)
            if states:
                domain._substitute_rule_only_user_input(state, states[-1])
            if last_ml_action_sub_state:
                state[PREVIOUS_ACTION] = dict(last_ml_action_sub_state)
        states.append(domain._clean_state(state))
    return states


def install() -> None:
    """Make every Domain of this process compute a tracker's states once."""
    from rasa.shared.core.domain import Domain

    replace(Domain, "states_for_tracker_history", computed_once, by=__name__)


def computed_once(original: Any) -> Any:
    """`states_for_tracker_history` answered from the states computed once per tracker."""

    @functools.wraps(original)
    def once(self: Any, tracker: Any, omit_unset_slots: bool = False, ignore_rule_only_turns: bool = False,
             rule_only_data: dict[str, Any] | None = None) -> list[dict[str, Any]]:  # fmt: skip
        return states_for_tracker_history(self, tracker, omit_unset_slots, ignore_rule_only_turns, rule_only_data)

    return once
