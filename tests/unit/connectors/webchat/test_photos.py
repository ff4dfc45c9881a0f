"""Web chat photos: written through the town's media store (no EXIF, no GPS), shown back only by signed URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.town.media import MediaSigner
from connectors.webchat.photos import PhotoStore
from tests.photos import SECRET_OWNER, image_bytes, jpeg_with_gps, metadata_of


async def test_an_uploaded_photo_is_stored_without_its_exif_and_gps(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path)

    name = await store.save(jpeg_with_gps())

    stored = (tmp_path / name).read_bytes()
    assert name.endswith(".jpg") and store.path_of(name) == tmp_path / name
    assert metadata_of(stored)["gps"] == {} and metadata_of(stored)["exif"] == {}
    assert SECRET_OWNER.encode() not in stored


async def test_photos_are_stored_under_random_names(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path)

    first, second = await store.save(image_bytes("PNG")), await store.save(image_bytes("PNG"))

    assert first != second and first.endswith(".png")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"%PDF-1.7", "unsupported_type"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "too_large"),
        (b"GIF89a..", "unsupported_type"),
    ],
)
async def test_a_photo_that_is_not_an_image_or_too_big_is_refused(tmp_path: Path, data: bytes, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        await PhotoStore(tmp_path, max_bytes=64).save(data)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # noqa: ASYNC240


@pytest.mark.parametrize("name", ["../secret.png", "abc.png", "0" * 32 + ".svg", "0" * 32 + ".png"])
def test_only_stored_photo_names_can_be_served(tmp_path: Path, name: str) -> None:
    assert PhotoStore(tmp_path).path_of(name) is None


async def test_a_photo_is_served_back_only_with_its_unexpired_signature(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    store = PhotoStore(tmp_path, signer=MediaSigner(b"k", ttl_seconds=60, clock=lambda: now[0]))
    name = await store.save(image_bytes("PNG"))
    url = store.url("https://guichet.pau.fr/webhooks/webchat/upload", name)
    args = dict(part.split("=") for part in url.split("?")[1].split("&"))

    assert store.signed_path(name, args) == tmp_path / name
    assert store.signed_path(name, {}) is None
    now[0] += 61
    assert store.signed_path(name, args) is None
