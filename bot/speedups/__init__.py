"""Replacements of Rasa internals that give the same answers for less time, behind one switch: RASA_SPEEDUPS.

Each module here replaces one or a few attributes of Rasa 3.6.21 (or of Python's `re`, for spaCy's tokenizer): its
docstring says what and why, its `TARGETS` names what it replaces, its `install()` does so through
`bot.speedups._patching.replace` (kept, marked, logged, undoable), and a test holds its results to Rasa's own.

Only `bot.runtime`'s entry points call `install_all` (the rasa server, training, the test stories); importing a module
of this package replaces nothing. `install_all` checks the installed Rasa version once and refuses to patch
another version, with a clear log line: the bot then runs on plain Rasa. With RASA_SPEEDUPS=off nothing is
installed and `active()` is False, which also turns off the TED prediction cache
(`bot.runtime.components.policies.CachedTEDPolicy`): the same bot, on plain Rasa behaviour.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType

from bot.speedups._patching import original, replaced, undo

logger = logging.getLogger("bot.speedups")

RASA_VERSION = "3.6.21"  # the version every replacement was written against and is tested on

_STATE = {"active": False}


def server_speedups() -> tuple[ModuleType, ...]:
    """The speed-ups of the rasa server (start-up and every message), in the order they are installed."""
    from bot.speedups import (
        action_validation,
        dialogue_states,
        domain_checks,
        event_types,
        fast_load,
        graph_runner,
        nlu_batching,
        regex_cache,
        rule_lookup,
        sparse_features,
    )

    return (regex_cache, fast_load, action_validation, event_types, graph_runner, dialogue_states, nlu_batching,
            domain_checks, rule_lookup, sparse_features)  # fmt: skip


def training_speedups() -> tuple[ModuleType, ...]:
    """The speed-ups of a training."""
    from bot.speedups import fast_batches, regex_cache, single_trace

    return (regex_cache, fast_batches, single_trace)


def rasa_version() -> str:
    """The installed Rasa's version."""
    import rasa

    return str(rasa.__version__)


def install_all(enabled: bool, modules: Sequence[ModuleType], version: str | None = None) -> bool:
    """Install these speed-ups when enabled and Rasa is the version they were written for; True when installed."""
    if not enabled:
        logger.info("RASA_SPEEDUPS=off: speed-ups off, the bot runs on plain Rasa")
        return False
    version = rasa_version() if version is None else version
    if version != RASA_VERSION:
        logger.warning("Speed-ups off: they are written for Rasa %s and this is Rasa %s; the bot runs on plain Rasa",
                       RASA_VERSION, version)  # fmt: skip
        return False
    for module in modules:
        module.install()
    _STATE["active"] = True
    logger.info("Speed-ups on: %d replacements of Rasa %s internals", len(replaced()), version)
    return True


def active() -> bool:
    """True once `install_all` installed the speed-ups in this process (and until `uninstall_all`)."""
    return _STATE["active"]


def uninstall_all() -> None:
    """Put back every Rasa attribute replaced in this process."""
    undo()
    _STATE["active"] = False


@contextmanager
def installed(*modules: ModuleType) -> Iterator[None]:
    """These speed-ups installed for the duration of a block (tests), Rasa's own attributes put back after."""
    before = _STATE["active"]
    for module in modules:
        module.install()
    _STATE["active"] = True
    try:
        yield
    finally:
        for module in reversed(modules):
            undo(module.__name__)
        _STATE["active"] = before


__all__ = ["RASA_VERSION", "active", "install_all", "installed", "original", "server_speedups",
           "training_speedups", "uninstall_all"]  # fmt: skip
