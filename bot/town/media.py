"""The media store: citizens' photos, re-encoded without metadata, kept under random names, reached by signed URLs.

Every photo that reaches a ticket goes through `MediaStore.save`: the bytes are decoded by Pillow and a new image is
encoded from the pixels alone, so EXIF (GPS position, camera, owner), XMP, ICC profiles and comments never reach the
disk; the orientation the camera recorded is applied first, the size is bounded and decompression bombs are refused.
A ticket refers to its photo as `media:<name>`, never by a URL: the console serves it to signed-in staff, and a
back office that needs it gets a URL signed by `MediaSigner` that expires. Files are deleted with the tickets they
belong to (erasure, retention) and, when no ticket took them, after a short while (retention, `MediaStore.stale`).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from PIL import Image, ImageOps

if TYPE_CHECKING:
    from bot.settings import Settings

MEDIA_SCHEME = "media:"
FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
CONTENT_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 40-megapixel photo is already more than any phone takes; beyond it: a bomb
MAX_SIDE = 2048  # enough to see a pothole; a larger photo is scaled down
JPEG_QUALITY = 85
_NAME = re.compile(r"^[0-9a-f]{32}\.(?:jpg|png|webp)$")


class MediaRejected(ValueError):
    """Bytes the store refuses; `str(error)` is the reason: `too_large` or `unsupported_type`."""


def is_media_name(name: str) -> bool:
    """Whether `name` has the shape of a stored file's name (32 hex digits and an image suffix)."""
    return bool(_NAME.match(name))


def media_name(reference: str | None) -> str | None:
    """The file name in a `media:<name>` reference, or None for anything else."""
    if not reference or not reference.startswith(MEDIA_SCHEME):
        return None
    name = reference[len(MEDIA_SCHEME) :]
    return name if is_media_name(name) else None


def reencode(data: bytes, *, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE) -> tuple[bytes, str]:
    """A JPEG, PNG or WebP image encoded anew from its pixels only, and its suffix; `MediaRejected` otherwise."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in FORMATS:
                raise MediaRejected("unsupported_type")
            if image.width * image.height > max_pixels:
                raise MediaRejected("too_large")
            fmt = image.format
            image.seek(0)  # an animation keeps its first frame
            upright = ImageOps.exif_transpose(image)  # the camera's orientation, before its EXIF goes
            upright.thumbnail((max_side, max_side))
            pixels = _plain_mode(upright, fmt)
    except MediaRejected:
        raise
    except Image.DecompressionBombError as error:
        raise MediaRejected("too_large") from error
    except Exception as error:  # Pillow raises many kinds of errors on malformed files: all are a refusal
        raise MediaRejected("unsupported_type") from error
    clean = Image.new(pixels.mode, pixels.size)  # a fresh image: no info, EXIF, XMP, ICC or comment to carry over
    clean.paste(pixels)
    palette = pixels.getpalette() if pixels.mode == "P" else None
    if palette:
        clean.putpalette(palette)
    out = io.BytesIO()
    options = {"quality": JPEG_QUALITY, "optimize": True} if fmt == "JPEG" else {}
    clean.save(out, format=fmt, **options)
    return out.getvalue(), FORMATS[fmt]


def _plain_mode(image: Image.Image, fmt: str) -> Image.Image:
    """The image in a mode its format writes as it is (JPEG: RGB or L; PNG: also alpha and palettes; WebP: RGB(A))."""
    modes = {"JPEG": ("RGB", "L"), "PNG": ("RGB", "RGBA", "L", "LA", "P"), "WEBP": ("RGB", "RGBA")}[fmt]
    if image.mode in modes:
        return image
    return image.convert("RGB" if fmt == "JPEG" else "RGBA")


class MediaStore:
    """Photos on disk (MEDIA_DIR), written only through `save`, named at random."""

    def __init__(
        self, directory: Path, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.max_side = max_side

    def save(self, data: bytes) -> str:
        """Re-encode an image without its metadata, store it and return its name; `MediaRejected` if refused."""
        if len(data) > self.max_bytes:
            raise MediaRejected("too_large")
        clean, suffix = reencode(data, max_pixels=self.max_pixels, max_side=self.max_side)
        name = secrets.token_hex(16) + suffix
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / name).write_bytes(clean)
        return name

    def path_of(self, name: str) -> Path | None:
        """The stored file of that name, or None if the name is not one of ours."""
        if not is_media_name(name):
            return None
        path = self.directory / name
        return path if path.is_file() else None

    def reference(self, value: str | None) -> str | None:
        """`media:<name>` for a reference to, or a URL of, a photo this store holds; None for anything else.

        A URL counts by the file it names, whatever its host: names are 128 random bits, so only a URL this town
        handed out can name one of its files. Photos of other hosts are never taken.
        """
        if not value:
            return None
        name = media_name(value) or urlsplit(value.strip()).path.rpartition("/")[2]
        return MEDIA_SCHEME + name if self.path_of(name) is not None else None

    def delete(self, references: Iterable[str | None]) -> int:
        """Delete the files of these references or names; how many were there."""
        deleted = 0
        for reference in references:
            name = media_name(reference) or (reference if reference and is_media_name(reference) else None)
            path = self.path_of(name) if name else None
            if path is not None:
                path.unlink(missing_ok=True)
                deleted += 1
        return deleted

    def stale(self, older_than_epoch: float) -> list[str]:
        """References of the files written before `older_than_epoch` (seconds since the epoch)."""
        if not self.directory.is_dir():
            return []
        return sorted(
            MEDIA_SCHEME + path.name
            for path in self.directory.iterdir()
            if is_media_name(path.name) and path.stat().st_mtime < older_than_epoch
        )


class MediaSigner:
    """URLs to one stored photo that work until they expire: HMAC-SHA256 of the name and the expiry time."""

    def __init__(self, secret: bytes, *, ttl_seconds: int = 3600, clock: Callable[[], float] = time.time) -> None:
        # A key of its own, derived from the secret given, so a media signature is never valid for anything else.
        self.key = hmac.new(secret, b"guichet media url v1", hashlib.sha256).digest()
        self.ttl_seconds = ttl_seconds
        self.clock = clock

    def _signature(self, name: str, expires: int) -> str:
        return hmac.new(self.key, f"{name}\n{expires}".encode(), hashlib.sha256).hexdigest()[:32]

    def query(self, name: str, ttl_seconds: int | None = None) -> str:
        """The query string (`expires=…&signature=…`) that opens `name` for `ttl_seconds` (the signer's by default)."""
        expires = int(self.clock()) + max(1, self.ttl_seconds if ttl_seconds is None else ttl_seconds)
        return urlencode({"expires": expires, "signature": self._signature(name, expires)})

    def url(self, base_url: str, name: str, ttl_seconds: int | None = None) -> str:
        """`<base_url>/<name>?expires=…&signature=…`."""
        return f"{base_url.rstrip('/')}/{name}?{self.query(name, ttl_seconds)}"

    def verify(self, name: str, args: Mapping[str, object]) -> bool:
        """Whether `args` (a request's query) carry a signature of `name` that has not expired."""
        expires, signature = _first(args.get("expires")), _first(args.get("signature"))
        if not expires or not signature or not expires.isdigit():
            return False
        if int(expires) < self.clock():
            return False
        return hmac.compare_digest(signature, self._signature(name, int(expires)))


def _first(value: object) -> str | None:
    """A query value as a string (Sanic gives lists)."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return value if isinstance(value, str) else None


def media_store(settings: Settings | None = None) -> MediaStore:
    """The store at MEDIA_DIR (var/media by default), with the settings' upload limit."""
    from bot.settings import get_settings

    settings = settings or get_settings()
    return MediaStore(settings.effective_media_dir, max_bytes=settings.max_upload_bytes)


def media_signer(settings: Settings | None = None) -> MediaSigner:
    """The signer keyed by MEDIA_URL_SECRET, or by the identity secret (IDENTITY_SECRET or the one under var/), with
    MEDIA_URL_TTL_SECONDS: every process of the town signs and checks the same URLs."""
    from bot.settings import get_settings
    from bot.town.privacy.pseudonyms import load_identity_secret

    settings = settings or get_settings()
    secret = settings.media_url_secret
    key = secret.encode() if secret else load_identity_secret(settings.identity_secret, settings.var_dir)
    return MediaSigner(key, ttl_seconds=settings.media_url_ttl_seconds)
