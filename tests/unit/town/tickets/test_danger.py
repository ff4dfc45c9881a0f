"""Danger in a report (gas, fallen power line, flooding, collapse, fire) is recognised; traffic lights and
potholes are not."""

from __future__ import annotations

import pytest

from bot.town.tickets.danger import Danger, detect_danger, is_dangerous


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("ça sent le gaz dans la rue", Danger.GAS),
        ("odeur de gaz tres forte devant le 5 rue gassion", Danger.GAS),
        ("FUITE DE GAZ", Danger.GAS),
        ("un câble électrique est tombé sur le trottoir", Danger.ELECTRICITY),
        ("cable electrique au sol rue lamothe", Danger.ELECTRICITY),
        ("un cable est tombe sur la route", Danger.ELECTRICITY),
        ("fil electrique qui pend au dessus du trottoir", Danger.ELECTRICITY),
        ("la rue est inondée", Danger.FLOOD),
        ("RUE INONDEE AVENUE DUFAU", Danger.FLOOD),
        ("l'eau rentre dans les garages", Danger.FLOOD),
        ("il y a un feu de poubelle avenue de lons", Danger.FIRE),
        ("incendie dans le parc", Danger.FIRE),
        ("une voiture a pris feu", Danger.FIRE),
        ("des flammes sortent du container", Danger.FIRE),
        ("la chaussée s'est effondrée rue Carnot", Danger.COLLAPSE),
        ("affaissement de la route avenue dufau", Danger.COLLAPSE),
        ("un mur menace de tomber sur le trottoir", Danger.COLLAPSE),
        ("la route s est enfoncee devant l ecole", Danger.COLLAPSE),
    ],
)
def test_citizen_describing_a_danger_is_recognised(text: str, kind: Danger) -> None:
    assert kind in detect_danger(text)
    assert is_dangerous(text)


@pytest.mark.parametrize(
    "text",
    [
        "feu rouge en panne avenue jean mermoz",
        "les feux tricolores ne marchent plus",
        "le feu pieton reste au rouge",
        "il y a un nid de poule enorme rue serviez",
        "le lampadaire clignote",
        "fuite d'eau devant chez moi",
        "des tags sur le mur de l'ecole",
        "",
    ],
)
def test_ordinary_report_is_not_a_danger(text: str) -> None:
    assert detect_danger(text) == frozenset()
    assert not is_dangerous(text)


def test_no_text_is_no_danger() -> None:
    assert detect_danger(None) == frozenset()
