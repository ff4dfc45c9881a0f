"""Citizens' report photos sent through the web chat: written through the town's media store, shown back by signed URL.

An upload is re-encoded by `bot.town.media.MediaStore` (no EXIF, no GPS, bounded size; anything else refused) and
stored under a random name. The citizen's widget gets back a URL that works only with its signature and until it
expires (`MediaSigner`): the photo is never public, even to someone who learns its name.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from pathlib import Path

from bot.town.media import CONTENT_TYPES, MAX_BYTES, MediaSigner, MediaStore

MAX_UPLOAD_BYTES = MAX_BYTES
SUFFIX_TYPES = CONTENT_TYPES


class PhotoStore:
    """The web chat's view of the media store: save an upload, hand out and check its signed URL."""

    def __init__(self, directory: Path, max_bytes: int = MAX_UPLOAD_BYTES, signer: MediaSigner | None = None) -> None:
        self.media = MediaStore(directory, max_bytes=max_bytes)
        # Without a signer from the settings (tests, one process), a key of this process: its URLs work only here.
        self.signer = signer or MediaSigner(secrets.token_bytes(32))

    @property
    def directory(self) -> Path:
        """Where the media store keeps its files."""
        return self.media.directory

    async def save(self, data: bytes) -> str:
        """Re-encode and store an image and return its name; ValueError (`too_large`, `unsupported_type`) if refused."""
        return await asyncio.to_thread(self.media.save, data)

    def url(self, base_url: str, name: str) -> str:
        """The signed, expiring URL of an upload under `base_url` (the upload route)."""
        return self.signer.url(base_url, name)

    def path_of(self, name: str) -> Path | None:
        """The stored file of that name, or None if the name is not one of ours."""
        return self.media.path_of(name)

    def signed_path(self, name: str, args: Mapping[str, object]) -> Path | None:
        """The stored file, only for a request whose query carries its valid, unexpired signature."""
        return self.media.path_of(name) if self.signer.verify(name, args) else None
