"""« de » before the town's name, as French writes it."""

from __future__ import annotations

import pytest

from bot.town.wording import elide_before, of_town


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Pau", "de Pau"), ("Orthez", "d'Orthez"), ("Anglet", "d'Anglet"), ("Île-Tudy", "d'Île-Tudy"),
     ("Hendaye", "de Hendaye"), ("Yzeure", "d'Yzeure"), ("", "de ")],
)  # fmt: skip
def test_of_town(name: str, expected: str) -> None:
    assert of_town(name) == expected


def test_elide_before_touches_only_de_before_the_town() -> None:
    text = "De Orthez à Pau, la Ville de Orthez et le quartier de Orthezia."
    assert elide_before(text, "Orthez") == "D'Orthez à Pau, la Ville d'Orthez et le quartier de Orthezia."
    assert elide_before("la Ville de Pau", "Pau") == "la Ville de Pau"
