"""The media store: photos re-encoded without EXIF or GPS, bounded, refused when not images; signed URLs that expire."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from bot.town.media import MEDIA_SCHEME, MediaRejected, MediaSigner, MediaStore, media_name
from tests.photos import SECRET_OWNER, image_bytes, jpeg_with_gps, metadata_of


@pytest.fixture
def media(tmp_path: Path) -> MediaStore:
    return MediaStore(tmp_path / "media")


def test_a_phone_photo_loses_its_gps_position_owner_and_comment_but_keeps_its_orientation(media: MediaStore) -> None:
    original = jpeg_with_gps(size=(64, 48), orientation=6)  # the camera was held upright: rotate on display
    assert metadata_of(original)["gps"] and SECRET_OWNER.encode() in original

    stored = (media.directory / media.save(original)).read_bytes()

    meta = metadata_of(stored)
    assert meta["exif"] == {} and meta["gps"] == {}
    assert not {"exif", "comment", "xmp", "icc_profile"} & set(meta["info"])
    assert SECRET_OWNER.encode() not in stored and b"Serviez" not in stored
    assert meta["size"] == (48, 64)  # turned upright before the orientation tag went


def png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", SECRET_OWNER)
    out = io.BytesIO()
    Image.new("RGBA", (20, 20), (0, 0, 0, 0)).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def webp_with_exif() -> bytes:
    exif = Image.Exif()
    exif[0xA430] = SECRET_OWNER
    out = io.BytesIO()
    Image.new("RGB", (20, 20)).save(out, format="WEBP", exif=exif)
    return out.getvalue()


@pytest.mark.parametrize(("data", "suffix"), [(png_with_text(), ".png"), (webp_with_exif(), ".webp")])
def test_png_and_webp_keep_their_format_and_lose_their_metadata(media: MediaStore, data: bytes, suffix: str) -> None:
    assert SECRET_OWNER.encode() in data

    name = media.save(data)

    stored = (media.directory / name).read_bytes()
    assert name.endswith(suffix) and SECRET_OWNER.encode() not in stored
    assert metadata_of(stored)["exif"] == {}


def test_a_big_photo_is_scaled_down_to_the_bound(tmp_path: Path) -> None:
    small = MediaStore(tmp_path, max_side=100)

    name = small.save(image_bytes("JPEG", size=(400, 100)))

    assert metadata_of((tmp_path / name).read_bytes())["size"] == (100, 25)


def bomb() -> bytes:
    """A PNG of a few kilobytes that would take 64 megapixels once decoded."""
    out = io.BytesIO()
    Image.new("1", (8000, 8000)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"%PDF-1.7 not an image", "unsupported_type"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "unsupported_type"),
        (image_bytes("GIF"), "unsupported_type"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 64, "unsupported_type"),  # a JPEG's first bytes, then nothing
        (b"", "unsupported_type"),
        (bomb(), "too_large"),
    ],
)
def test_what_is_not_a_real_photo_is_refused_and_nothing_is_written(
    media: MediaStore, data: bytes, reason: str
) -> None:
    with pytest.raises(MediaRejected, match=reason):
        media.save(data)
    assert not media.directory.exists() or not any(media.directory.iterdir())


def test_too_many_bytes_are_refused_before_decoding(tmp_path: Path) -> None:
    with pytest.raises(MediaRejected, match="too_large"):
        MediaStore(tmp_path, max_bytes=100).save(image_bytes("PNG", size=(300, 300), color=(1, 2, 3)) + b"\x00" * 200)


def test_names_are_random_and_only_they_are_served(media: MediaStore) -> None:
    first, second = media.save(image_bytes()), media.save(image_bytes())

    assert first != second and media.path_of(first) == media.directory / first
    for name in ("../secret.png", "abc.png", "0" * 32 + ".svg", "0" * 32 + ".png"):
        assert media.path_of(name) is None


def test_only_photos_this_store_holds_become_ticket_references(media: MediaStore) -> None:
    name = media.save(image_bytes())

    assert media.reference(f"https://guichet.pau.fr/webhooks/webchat/upload/{name}?expires=1&signature=x") == (
        MEDIA_SCHEME + name
    )
    assert media.reference(MEDIA_SCHEME + name) == MEDIA_SCHEME + name
    assert media_name(MEDIA_SCHEME + name) == name
    for foreign in (
        "https://images.example.com/trou.jpg",
        f"https://evil.example/{'0' * 32}.jpg",
        "media:../x.png",
        "",
    ):
        assert media.reference(foreign) is None


def test_deleting_and_listing_stale_files(media: MediaStore) -> None:
    old, new = media.save(image_bytes()), media.save(image_bytes())
    three_days_ago = time.time() - 3 * 86400
    os.utime(media.directory / old, (three_days_ago, three_days_ago))

    assert media.stale(time.time() - 86400) == [MEDIA_SCHEME + old]
    assert media.delete([MEDIA_SCHEME + old, MEDIA_SCHEME + old, None]) == 1
    assert media.path_of(old) is None and media.path_of(new) is not None


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def query_of(url: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))


def test_a_signed_url_works_until_it_expires_and_not_after() -> None:
    clock = Clock()
    signer = MediaSigner(b"secret", ttl_seconds=600, clock=clock)
    name = "a" * 32 + ".jpg"
    url = signer.url("https://guichet.pau.fr/media", name)

    assert url.startswith(f"https://guichet.pau.fr/media/{name}?expires=")
    args = query_of(url)
    assert signer.verify(name, args)
    clock.now += 600
    assert signer.verify(name, args)
    clock.now += 1
    assert not signer.verify(name, args)


def test_a_signature_opens_only_its_own_photo_with_its_own_key_and_expiry() -> None:
    clock = Clock()
    signer = MediaSigner(b"secret", clock=clock)
    name, other = "a" * 32 + ".jpg", "b" * 32 + ".jpg"
    args = query_of(signer.url("/media", name))

    assert not signer.verify(other, args)
    assert not MediaSigner(b"another key", clock=clock).verify(name, args)
    assert not signer.verify(name, {**args, "expires": str(int(args["expires"]) + 3600)})
    assert not signer.verify(name, {"expires": args["expires"]})
    assert not signer.verify(name, {"expires": "demain", "signature": args["signature"]})
    assert signer.verify(name, {key: [value] for key, value in args.items()})  # Sanic gives lists
