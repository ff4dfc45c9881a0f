"""Photos sent on Telegram reach the ticket: downloaded after the reply, into the media store, by a retried job.

A Telegram photo arrives as a file id; the ticket stores `telegram-file:<id>` and, in the same transaction, an
outbox job of kind `PHOTO_KIND`. The outbox worker then downloads the file through python-telegram-bot's file API
(`get_file`, then `download_as_bytearray`), re-encodes it without metadata in the media store and puts
`media:<name>` on the ticket in place of the file id: the citizen's reply never waits for Telegram, a failed
download is retried, and from then on the photo lives (and is deleted by erasure and retention) like any other.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol

from bot.town.media import MEDIA_SCHEME, MediaRejected, MediaStore
from bot.town.tickets.intake import TELEGRAM_FILE_SCHEME
from bot.town.tickets.model import OutboxJob

if TYPE_CHECKING:
    from bot.town.tickets.store import TicketStore

logger = logging.getLogger(__name__)


class FileSource(Protocol):
    """Where a channel's files are downloaded from."""

    async def download(self, file_id: str) -> bytes:
        """The bytes of the file, or raise (the job is retried)."""
        ...


class TelegramFiles:
    """The Telegram Bot API's files, through python-telegram-bot (a fake `request` transport in tests)."""

    def __init__(self, token: str, *, request: Any = None) -> None:
        self.token = token
        self.request = request
        self._bot: Any = None
        self._lock = asyncio.Lock()

    async def _ready_bot(self) -> Any:
        from telegram import Bot
        from telegram.request import HTTPXRequest

        async with self._lock:
            if self._bot is None:
                transport = self.request or HTTPXRequest(connect_timeout=5.0, read_timeout=30.0)
                bot = Bot(self.token, request=transport)
                await bot.initialize()
                self._bot = bot
        return self._bot

    async def download(self, file_id: str) -> bytes:
        """`get_file(file_id)`, then `download_as_bytearray()`."""
        from telegram.error import TelegramError

        from bot.town.notify import NotificationError

        try:
            bot = await self._ready_bot()
            file = await bot.get_file(file_id)
            return bytes(await file.download_as_bytearray())
        except TelegramError as error:
            raise NotificationError(f"Telegram file {file_id[:12]}… not downloaded: {error}") from error

    async def aclose(self) -> None:
        """Close the Bot's connections."""
        if self._bot is not None:
            await self._bot.shutdown()
            self._bot = None


def photo_job_payload(ref: str, media_url: str) -> dict[str, str]:
    """The job that fetches a ticket's Telegram photo."""
    return {"ticket_ref": ref, "file_id": media_url[len(TELEGRAM_FILE_SCHEME) :]}


class PhotoFetcher:
    """Runs `PHOTO_KIND` jobs: download, re-encode into the media store, attach to the ticket."""

    def __init__(self, tickets: TicketStore, media: MediaStore, files: FileSource) -> None:
        self.tickets = tickets
        self.media = media
        self.files = files

    async def send(self, job: OutboxJob) -> str | None:
        """Fetch one photo; a download failure raises (retried), an image the store refuses is dropped."""
        ref, file_id = str(job.payload.get("ticket_ref")), str(job.payload.get("file_id"))
        waiting = TELEGRAM_FILE_SCHEME + file_id
        ticket = await asyncio.to_thread(self.tickets.get_ticket, ref)
        if ticket is None or ticket.media_url != waiting:
            return "nothing to fetch"  # erased or anonymised meanwhile: the photo must not come back
        data = await self.files.download(file_id)
        try:
            name = await asyncio.to_thread(self.media.save, data)
        except MediaRejected as error:
            await asyncio.to_thread(self.tickets.attach_photo, ref, waiting, None)
            logger.warning("Telegram photo of %s refused by the media store: %s", ref, error)
            return f"refused: {error}"
        reference = MEDIA_SCHEME + name
        if not await asyncio.to_thread(self.tickets.attach_photo, ref, waiting, reference):
            await asyncio.to_thread(self.media.delete, [reference])
            return "nothing to fetch"
        return reference
