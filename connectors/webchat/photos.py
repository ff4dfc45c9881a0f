"""Citizens' report photos sent through the web chat: recognised by their bytes, stored under random names."""

from __future__ import annotations

import asyncio
import re
import secrets
from pathlib import Path

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
IMAGE_SUFFIXES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
SUFFIX_TYPES = {suffix: mime for mime, suffix in IMAGE_SUFFIXES.items()}

_UPLOAD_NAME = re.compile(r"^[0-9a-f]{32}\.(jpg|png|webp)$")


def sniff_image_type(data: bytes) -> str | None:
    """The MIME type of a JPEG, PNG or WebP image from its magic bytes, else None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class PhotoStore:
    """Citizens' report photos on disk, under random names."""

    def __init__(self, directory: Path, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes

    async def save(self, data: bytes) -> str:
        """Store an image and return its name; ValueError if too big or not JPEG/PNG/WebP."""
        if len(data) > self.max_bytes:
            raise ValueError("too_large")
        mime = sniff_image_type(data)
        if mime is None:
            raise ValueError("unsupported_type")
        name = secrets.token_hex(16) + IMAGE_SUFFIXES[mime]
        await asyncio.to_thread(self._write, name, data)
        return name

    def _write(self, name: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / name).write_bytes(data)

    def path_of(self, name: str) -> Path | None:
        """The stored file of that name, or None if the name is not one of ours."""
        if not _UPLOAD_NAME.match(name):
            return None
        path = self.directory / name
        return path if path.is_file() else None
