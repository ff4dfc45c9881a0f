"""Photos sent on Telegram or by MMS reach the ticket: downloaded after the reply, into the media store, by a retried
job.

A Telegram photo arrives as a file id, an MMS photo as a URL of Twilio's API that only the town's account opens; the
ticket stores `telegram-file:<id>` or `twilio-media:<url>` and, in the same transaction, an outbox job of kind
`PHOTO_KIND`. The outbox worker then downloads the file (Telegram: python-telegram-bot's file API, `get_file` then
`download_as_bytearray`; Twilio: the media URL with the account's credentials), re-encodes it without metadata in the
media store and puts `media:<name>` on the ticket in its place: the citizen's reply never waits for the channel, a
failed download is retried, and from then on the photo lives (and is deleted by erasure and retention) like any
other.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from bot.town.media import MEDIA_SCHEME, MediaRejected, MediaStore
from bot.town.tickets.intake import TELEGRAM_FILE_SCHEME, TWILIO_MEDIA_SCHEME, TWILIO_MEDIA_URL
from bot.town.tickets.model import OutboxJob

if TYPE_CHECKING:
    from bot.town.tickets.store import TicketStore

logger = logging.getLogger(__name__)


class FileSource(Protocol):
    """Where a channel's files are downloaded from."""

    async def download(self, file_id: str) -> bytes:
        """The bytes of the file (its id or URL after the scheme), or raise (the job is retried)."""
        ...


class TwilioMedia:
    """MMS media on Twilio's API, opened with the account's credentials (httpx; a mock transport in tests)."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        client: httpx.AsyncClient | None = None,
        timeout_seconds: float = 30.0,
        max_bytes: int = 5 * 1024 * 1024,
    ) -> None:
        self.auth = (account_sid, auth_token)
        self.account_path = f"/Accounts/{account_sid}/"
        self._client = client
        self._owns_client = client is None
        self.timeout_seconds = timeout_seconds
        self.max_bytes = max_bytes

    async def download(self, file_id: str) -> bytes:
        """GET the media URL (Twilio answers with a redirect to the file); only Twilio's API is ever asked."""
        from bot.town.notify import NotificationError

        if not TWILIO_MEDIA_URL.match(file_id) or self.account_path not in file_id:
            raise NotificationError("not a media URL of this Twilio account")
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_seconds)
        try:
            response = await self._client.get(file_id, auth=self.auth, follow_redirects=True)
        except httpx.HTTPError as error:
            raise NotificationError(f"Twilio media not downloaded: {error}") from error
        if not response.is_success:
            raise NotificationError(f"Twilio media answered {response.status_code}")
        return response.content[: self.max_bytes + 1]  # the media store refuses what is larger

    async def aclose(self) -> None:
        """Close the HTTP client if this source created it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None


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


def photo_job_payload(ref: str, pending: str) -> dict[str, str]:
    """The job that fetches a ticket's photo from its channel (`pending`: the ticket's `telegram-file:` or
    `twilio-media:` reference)."""
    return {"ticket_ref": ref, "pending": pending}


class PhotoFetcher:
    """Runs `PHOTO_KIND` jobs: download from the channel, re-encode into the media store, attach to the ticket."""

    def __init__(
        self,
        tickets: TicketStore,
        media: MediaStore,
        telegram: FileSource | None = None,
        *,
        twilio: FileSource | None = None,
    ) -> None:
        self.tickets = tickets
        self.media = media
        self.sources = {TELEGRAM_FILE_SCHEME: telegram, TWILIO_MEDIA_SCHEME: twilio}

    async def send(self, job: OutboxJob) -> str | None:
        """Fetch one photo; a download failure raises (retried), an image the store refuses is dropped."""
        from bot.town.notify import NotificationError

        ref, waiting = str(job.payload.get("ticket_ref")), str(job.payload.get("pending"))
        ticket = await asyncio.to_thread(self.tickets.get_ticket, ref)
        if ticket is None or ticket.media_url != waiting:
            return "nothing to fetch"  # erased or anonymised meanwhile: the photo must not come back
        scheme = next((s for s in self.sources if waiting.startswith(s)), None)
        source = self.sources.get(scheme) if scheme else None
        if scheme is None or source is None:
            raise NotificationError(f"no way to download {waiting.split(':', 1)[0]} photos (channel not configured)")
        data = await source.download(waiting[len(scheme) :])
        try:
            name = await asyncio.to_thread(self.media.save, data)
        except MediaRejected as error:
            await asyncio.to_thread(self.tickets.attach_photo, ref, waiting, None)
            logger.warning("Photo of %s refused by the media store: %s", ref, error)
            return f"refused: {error}"
        reference = MEDIA_SCHEME + name
        if not await asyncio.to_thread(self.tickets.attach_photo, ref, waiting, reference):
            await asyncio.to_thread(self.media.delete, [reference])
            return "nothing to fetch"
        return reference
