"""The domain's emptiness is Rasa's answer, computed once per domain (bot/speedups/domain_checks.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rasa.shared.core.domain import Domain

from bot import speedups
from bot.settings import ROOT
from bot.speedups import domain_checks


@pytest.fixture
def remembered() -> Iterator[None]:
    original = speedups.original(Domain, "is_empty")
    with speedups.installed(domain_checks):
        domain_checks.install()  # idempotent
        assert Domain.is_empty.__wrapped__ is original  # type: ignore[attr-defined]
        yield
    assert Domain.is_empty is original


def test_each_domain_gets_rasas_answer_once(remembered: None, monkeypatch: pytest.MonkeyPatch) -> None:
    guichet, empty = Domain.load(str(ROOT / "domain.yml")), Domain.empty()
    serialised: list[Domain] = []
    as_dict = Domain.as_dict

    def counted(self: Domain) -> dict:  # type: ignore[type-arg]
        serialised.append(self)
        return as_dict(self)

    monkeypatch.setattr(Domain, "as_dict", counted)
    assert (guichet.is_empty(), empty.is_empty()) == (False, True)  # Rasa's answers
    serialised.clear()
    assert [guichet.is_empty() for _ in range(3)] == [False] * 3
    assert [empty.is_empty() for _ in range(3)] == [True] * 3
    assert serialised == []  # remembered: the domains are not serialised again
    assert Domain.from_dict({"intents": ["greet"]}).is_empty() is False  # a new domain gets its own answer
    assert serialised
