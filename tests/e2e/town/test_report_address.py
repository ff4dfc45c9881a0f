"""A citizen reports a pothole at « 40 avenue de Lons » through the REST channel of a running Guichet: the ticket is
located by the demonstration address base (seeded at first start) and its Open311 JSON has `lat` and `long`."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from bot.settings import ROOT
from bot.town.catalog.addresses import SEED_FILE, read_ban_file
from bot.town.catalog.geocoding import Geocoder
from tests.e2e.guichet_stack import Stack, start_stack

pytestmark = pytest.mark.model

REFERENCE = re.compile(r"PAU-\d{4}-\d{6}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("addresses"))
    yield running
    running.stop_all()


def said(stack: Stack, sender: str, text: str) -> str:
    """What the assistant answered to `text`, all messages joined."""
    response = stack.say(sender, text, timeout=120)
    assert response.status_code == 200, response.text
    return "\n".join(m.get("text") or "" for m in response.json())


def test_a_report_typed_at_40_avenue_de_lons_is_published_with_lat_and_long(stack: Stack) -> None:
    sender = "citoyenne-avenue-de-lons"
    said(stack, sender, "je voudrais signaler un nid de poule")
    summary_so_far = said(stack, sender, "40 avenue de Lons")
    said(stack, sender, "un gros trou au milieu de la chaussée")
    said(stack, sender, "non")  # no photo
    summary = said(stack, sender, "non")  # no contact
    assert "40 Avenue de Lons" in summary, (summary_so_far, summary)
    created = said(stack, sender, "oui")
    found = REFERENCE.search(created)
    assert found is not None, created

    console = f"http://127.0.0.1:{stack.settings.console_port}/open311/v2"
    response = httpx.get(f"{console}/requests/{found.group(0)}.json", timeout=30)
    assert response.status_code == 200, response.text
    (request,) = response.json()
    expected = Geocoder(read_ban_file(ROOT / "data" / "town" / SEED_FILE)).geocode("40 avenue de Lons")
    assert expected is not None
    assert request["address"] == "40 Avenue de Lons" and request["service_code"] == "voirie"
    assert (request["lat"], request["long"]) == (round(expected.lat, 3), round(expected.lon, 3))


def test_the_house_number_decides_the_collection_days_of_avenue_de_lons(stack: Stack) -> None:
    sender = "habitant-avenue-de-lons"
    asked = said(stack, sender, "quand passent les poubelles avenue de Lons ?")
    assert "dépend du numéro" in asked, asked
    odd = said(stack, sender, "au 41")
    assert "41 Avenue de Lons" in odd and "Nord" in odd, odd
    even = said(stack, "voisin-d-en-face", "quand passent les poubelles au 40 avenue de Lons ?")
    assert "40 Avenue de Lons" in even and "Ouest" in even, even
