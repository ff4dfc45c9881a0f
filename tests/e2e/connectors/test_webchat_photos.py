"""Web chat photos over real HTTP: stored without EXIF or GPS, served back only through their signed URL."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sanic import Sanic

from tests.e2e.connectors.test_webchat_socketio import PAGE_ORIGIN, echo_server
from tests.photos import SECRET_OWNER, jpeg_with_gps, metadata_of


@pytest.fixture(autouse=True)
def several_sanic_apps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Sanic, "test_mode", True)


async def test_an_uploaded_photo_loses_its_gps_and_is_public_to_no_one(tmp_path: Path) -> None:
    async with echo_server(tmp_path) as server, httpx.AsyncClient() as http:
        uploaded = await http.post(
            f"{server.url}/webhooks/webchat/upload",
            files={"photo": ("trou.jpg", jpeg_with_gps(), "image/jpeg")},
            headers={"Origin": PAGE_ORIGIN},
        )
        url = uploaded.json()["url"]
        bare = url.split("?")[0]
        served = await http.get(url)
        stranger = await http.get(bare)
        forged = await http.get(url[:-4] + "0000")

    assert uploaded.status_code == 201 and "?expires=" in url and "&signature=" in url
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert metadata_of(served.content)["gps"] == {} and SECRET_OWNER.encode() not in served.content
    [stored] = (tmp_path / "uploads").iterdir()
    assert metadata_of(stored.read_bytes())["exif"] == {}
    assert stranger.status_code == 404 and forged.status_code == 404  # as for a name that does not exist
