"""py-spy's raw stacks summarised by component and function."""

from __future__ import annotations

import pytest

from bench.profile import component_of, summarise

RAW = "\n".join(
    [
        'process 1:"python -m rasa run";thread (0x1): "MainThread";handle_message (rasa/core/processor.py:100);'
        "process (site-packages/rasa/nlu/featurizers/dense_featurizer/spacy_featurizer.py:50);"
        "__call__ (site-packages/spacy/language.py:1000) 30",
        'process 1:"python -m rasa run";thread (0x1): "MainThread";handle_message (rasa/core/processor.py:100);'
        "save (/work/main/bot/runtime/stores/tracker_store.py:80) 10",
        'process 1:"python -m rasa run";thread (0x1): "MainThread";run (site-packages/rasa/core/actions/action.py:700);'
        "_request (site-packages/aiohttp/client.py:400) 60",
    ]
)


@pytest.mark.parametrize(
    ("frames", "component"),
    [
        (["handle (rasa/core/processor.py:1)", "__call__ (spacy/language.py:2)"], "NLU: spaCy"),
        (["handle (rasa/core/processor.py:1)", "save (bot/runtime/stores/tracker_store.py:3)"], "tracker store (SQL)"),
        (["select (selectors.py:1)"], "other (asyncio, Python runtime)"),
    ],
)
def test_a_stack_is_charged_to_its_innermost_known_component(frames: list[str], component: str) -> None:
    assert component_of(frames) == component


def test_shares_add_up_by_component_and_functions_are_inclusive() -> None:
    profile = summarise("rasa server", RAW)

    assert profile.samples == 100
    assert dict(profile.components) == {
        "running actions (custom: HTTP call to the action server)": 60.0,
        "NLU: spaCy": 30.0,
        "tracker store (SQL)": 10.0,
    }
    functions = dict(profile.functions)
    assert functions["handle_message (rasa/core/processor.py)"] == 40.0
    assert functions["save (bot/runtime/stores/tracker_store.py)"] == 10.0


def test_threads_that_wait_are_not_counted_as_busy() -> None:
    idle = (
        'process 1:"rasa";thread (0x2): "ThreadPool";_bootstrap (threading.py:973);'
        "_worker (concurrent/futures/thread.py:81) 500\n"
        'process 1:"rasa";thread (0x1): "MainThread";run (sanic/app.py:1204);serve (sanic/server/runners.py:155) 400'
    )
    profile = summarise("rasa server", RAW + "\n" + idle)
    assert profile.samples == 100
