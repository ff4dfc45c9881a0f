"""The catalog's own validation speaks French to staff: each problem of a field, next to that field."""

from __future__ import annotations

from typing import Any

import pytest

from bot.town.catalog import CatalogError
from bot.town.catalog.loader import parse_service

VALID: dict[str, Any] = {
    "name": "Mairie", "label": "la mairie", "gender": "f",
    "address": {"street": "Place Royale", "postcode": "64000", "city": "Pau"}, "lat": 43.29, "lon": -0.37,
    "hours": {day: [] for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")},
}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field", "french"),
    [
        ({"phone": "0559"}, "phone", "'0559' n'est pas un numéro comme 05 36 49 10 00"),
        ({"email": "mairie"}, "email", "'mairie' n'est pas une adresse e-mail"),
        ({"website": "www"}, "website", "'www' n'est pas une adresse web (https://…)"),
        ({"lat": 123}, "lat", "123 est hors de l'intervalle [-90, 90]"),
        ({"lat": "abc"}, "lat", "un nombre est attendu, pas 'abc'"),
        ({"name": ""}, "name", "manquant"),
        ({"gender": "x"}, "gender", "'x' n'est pas l'une des valeurs m, f"),
        ({"address": {"street": "Place Royale", "postcode": "640", "city": "Pau"}}, "address.postcode",
         "'640' n'est pas un code postal français (5 chiffres)"),
        ({"hours": {**VALID["hours"], "monday": ["08:30-12:00", "11:00-17:00"]}}, "hours.monday",
         "les plages horaires se chevauchent"),
        ({"hours": {**VALID["hours"], "monday": ["17:00-08:00"]}}, "hours.monday[0]",
         "'17:00-08:00' finit avant de commencer"),
        ({"hours": {**VALID["hours"], "monday": ["8h-12h"]}}, "hours.monday[0]", "'8h' n'est pas une heure (08:30)"),
        ({"closures": [{"date": "2026-13-01", "reason": "x"}]}, "closures[0].date",
         "'2026-13-01' n'est pas une date (AAAA-MM-JJ)"),
        ({"colour": "blue"}, "colour", "champ inconnu"),
    ],
)  # fmt: skip
def test_each_problem_is_said_in_french_next_to_its_field(change: dict[str, Any], field: str, french: str):
    with pytest.raises(CatalogError) as refused:
        parse_service("services.yml", "mairie", {**VALID, **change})
    assert refused.value.field == field
    assert refused.value.french_problem == french
    assert refused.value.french == f"mairie : {field} : {french}"
