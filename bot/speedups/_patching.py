"""The mechanics of replacing a Rasa internal, written once: keep the original, mark, log, undo.

Every speed-up module calls `replace` for each attribute it replaces. A second `replace` of the same target is a
no-op (installing twice is harmless), `original` gives back what Rasa defines whether or not it is replaced (what
the equality tests compare against), and `undo` puts Rasa's attributes back, so that a test can install a speed-up
around itself and leave the process as it found it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("bot.speedups")

MARK = "__guichet_speedup__"  # set on each replacement: the module that installed it


@dataclass(frozen=True)
class Replaced:
    """One attribute replaced: where, the raw attribute it replaced, and which speed-up replaced it."""

    owner: Any
    name: str
    raw_original: Any
    own: bool  # False when the attribute was inherited: undo then deletes the replacement
    by: str

    @property
    def target(self) -> str:
        """The dotted name of what is replaced, e.g. `rasa.shared.core.domain.Domain.is_empty`."""
        owner_name = getattr(self.owner, "__qualname__", None) or self.owner.__name__
        module = getattr(self.owner, "__module__", None) if isinstance(self.owner, type) else None
        return f"{module}.{owner_name}.{self.name}" if module else f"{owner_name}.{self.name}"


_REPLACED: dict[tuple[int, str], Replaced] = {}


def _raw(owner: Any, name: str) -> Any:
    """The attribute as stored (a staticmethod or classmethod object, not the function it wraps)."""
    if isinstance(owner, type):
        for klass in owner.__mro__:
            if name in klass.__dict__:
                return klass.__dict__[name]
        raise AttributeError(f"{owner.__qualname__} has no attribute {name!r}")
    return getattr(owner, name)


def _unwrap(raw: Any) -> tuple[Callable[..., Any], Callable[[Any], Any]]:
    """The function inside a raw attribute, and how to wrap a replacement the same way."""
    if isinstance(raw, staticmethod):
        return raw.__func__, staticmethod
    if isinstance(raw, classmethod):
        return raw.__func__, classmethod
    return raw, lambda function: function


def replace(owner: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]], *, by: str) -> bool:
    """Replace `owner.name` (a class or module attribute) by `make(original_function)`; False if already replaced.

    `make` receives Rasa's function (unwrapped from a staticmethod or classmethod) and returns the replacement,
    which is wrapped back the same way.
    """
    key = (id(owner), name)
    if key in _REPLACED:
        return False
    raw = _raw(owner, name)
    function, wrap = _unwrap(raw)
    replacement = make(function)
    setattr(replacement, MARK, by)
    own = not isinstance(owner, type) or name in owner.__dict__
    setattr(owner, name, wrap(replacement))
    replaced = _REPLACED[key] = Replaced(owner, name, raw, own, by)
    logger.info("Speed-up %s replaces %s", by, replaced.target)
    return True


def original(owner: Any, name: str) -> Callable[..., Any]:
    """Rasa's own function for `owner.name`, whether or not a speed-up replaced it."""
    replaced = _REPLACED.get((id(owner), name))
    return _unwrap(_raw(owner, name) if replaced is None else replaced.raw_original)[0]


def is_replaced(owner: Any, name: str) -> bool:
    """True when a speed-up replaced `owner.name` in this process."""
    return (id(owner), name) in _REPLACED


def replaced(by: str | None = None) -> list[Replaced]:
    """What is replaced in this process (by one speed-up module, or by all), in the order it was replaced."""
    return [r for r in _REPLACED.values() if by is None or r.by == by]


def undo(by: str | None = None) -> None:
    """Put back Rasa's attributes replaced by one speed-up module (or by all), latest first."""
    for key, item in reversed(list(_REPLACED.items())):
        if by is not None and item.by != by:
            continue
        if item.own:
            setattr(item.owner, item.name, item.raw_original)
        else:
            delattr(item.owner, item.name)
        del _REPLACED[key]
        logger.debug("Speed-up %s removed from %s", item.by, item.target)


@contextmanager
def replacing(install: Callable[[], Any], by: str) -> Iterator[None]:
    """Install a speed-up for the duration of a block (tests), then put Rasa's attributes back."""
    install()
    try:
        yield
    finally:
        undo(by)
