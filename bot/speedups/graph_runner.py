"""Rasa's prediction graphs run in the order dask chose for them, without asking dask again on every message.

Replaces `DaskGraphRunner.run`. Rasa 3.6 runs each message's graphs (the NLU pipeline, then the policies for every
action it predicts) through dask: for every run it rebuilds the graph, has `dask.order` rank the nodes and schedules
them one by one. The graphs never change between messages, so neither does that order.

The first run with a given set of targets and inputs goes through dask and records the order in which dask called
the nodes; later runs call the same nodes in that order with the same arguments (each node gets the outputs of the
nodes it needs, as dask hands them over). Outputs are identical.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from rasa.engine.exceptions import GraphRunError

from bot.speedups._patching import replace

TARGETS = ("rasa.engine.runner.dask.DaskGraphRunner.run",)

# Per runner: (targets, input names) -> the nodes to call, in order, each with the names of what it needs.
Plan = tuple[tuple[str, tuple[str, ...]], ...]
PLANS_ATTRIBUTE = "_guichet_plans"


class _Recorder:
    """A graph node that notes when dask calls it."""

    def __init__(self, name: str, node: Callable[..., Any], calls: list[str]) -> None:
        self.name, self.node, self.calls = name, node, calls

    def __call__(self, *inputs: Any) -> Any:
        self.calls.append(self.name)
        return self.node(*inputs)


def install() -> None:
    """Make every DaskGraphRunner of this process replay dask's order after its first run."""
    from rasa.engine.runner.dask import DaskGraphRunner

    replace(DaskGraphRunner, "run", replaying, by=__name__)


def replaying(dask_run: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Dask's `run` the first time for given targets and inputs, its recorded order afterwards."""
    from rasa.engine.runner.dask import DaskGraphRunner

    @functools.wraps(dask_run)
    def run(
        self: DaskGraphRunner, inputs: dict[str, Any] | None = None, targets: list[str] | None = None
    ) -> dict[str, Any]:
        run_targets = list(targets) if targets else list(self._graph_schema.target_names)
        plans: dict[tuple[tuple[str, ...], frozenset[str]], Plan] = self.__dict__.setdefault(PLANS_ATTRIBUTE, {})
        key = (tuple(run_targets), frozenset(inputs or ()))
        plan = plans.get(key)
        if plan is None:
            result, plans[key] = _first_run(self, dask_run, inputs, run_targets)
            return result
        return _replay(self, plan, inputs, run_targets)

    return run


def _first_run(runner: Any, dask_run: Callable[..., dict[str, Any]], inputs: dict[str, Any] | None,
               targets: list[str]) -> tuple[dict[str, Any], Plan]:  # fmt: skip
    """Rasa's own run, through dask, noting the order in which the nodes are called."""
    calls: list[str] = []
    nodes = runner._instantiated_nodes
    runner._instantiated_nodes = {name: _Recorder(name, node, calls) for name, node in nodes.items()}
    try:
        result = dask_run(runner, inputs, targets)
    finally:
        runner._instantiated_nodes = nodes
    schema_nodes = runner._graph_schema.nodes
    return result, tuple((name, tuple(schema_nodes[name].needs.values())) for name in calls)


def _replay(runner: Any, plan: Plan, inputs: dict[str, Any] | None, targets: list[str]) -> dict[str, Any]:
    """The nodes of `plan` called in order, each given what dask would give it; Rasa's checks and errors."""
    outputs: dict[str, Any] = {}
    for name, value in (inputs or {}).items():
        if isinstance(value, str) and any(value == node for node, _ in plan):
            raise GraphRunError(
                f"Input value '{value}' clashes with a node name. Make sure that none of the input names passed to "
                f"the `run` method are the same as node names in the graph schema."
            )
        outputs[name] = (name, value)
    nodes = runner._instantiated_nodes
    try:
        for name, needs in plan:
            # dask hands a node the output of each node it needs, or the bare name of one it cannot find
            outputs[name] = nodes[name](*[outputs.get(need, need) for need in needs])
    except RuntimeError as error:
        raise GraphRunError("Error running runner.") from error
    return dict(outputs[target] for target in targets)
