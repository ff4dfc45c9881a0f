"""Report photos: recognised by their bytes, stored under random names, served only under those names."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.webchat.photos import PhotoStore, sniff_image_type

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (WEBP, "image/webp"),
        (b"GIF89a....", None),
        (b"<svg/>", None),
        (b"", None),
    ],
)
def test_photos_are_recognised_by_their_magic_bytes(data: bytes, mime: str | None) -> None:
    assert sniff_image_type(data) == mime


async def test_a_photo_is_stored_under_a_random_name(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path)

    first, second = await store.save(PNG), await store.save(PNG)

    assert first != second and first.endswith(".png")
    assert store.path_of(first) == tmp_path / first
    assert (tmp_path / first).read_bytes() == PNG


@pytest.mark.parametrize(("data", "error"), [(b"%PDF-1.7", "unsupported_type"), (JPEG + b"\x00" * 100, "too_large")])
async def test_a_photo_that_is_not_an_image_or_too_big_is_refused(tmp_path: Path, data: bytes, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        await PhotoStore(tmp_path, max_bytes=64).save(data)
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240


@pytest.mark.parametrize("name", ["../secret.png", "abc.png", "0" * 32 + ".svg", "0" * 32 + ".png"])
def test_only_stored_photo_names_can_be_served(tmp_path: Path, name: str) -> None:
    assert PhotoStore(tmp_path).path_of(name) is None
