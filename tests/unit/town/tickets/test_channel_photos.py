"""A Telegram or MMS photo reaches its ticket: downloaded by a retried outbox job (python-telegram-bot's file API,
Twilio's media URL with the account's credentials), re-encoded without metadata into the media store, and gone with
the ticket's citizen (erasure, retention)."""

from __future__ import annotations

import base64
import io
from datetime import timedelta

import httpx
import pytest
from PIL import Image
from sqlalchemy.engine import Engine

from bot.town.media import MediaStore, media_name
from bot.town.notify import KindRouter
from bot.town.privacy import erase_sender, purge
from bot.town.tickets import Backoff, OutboxStore, OutboxWorker, TicketDraft, TicketStore
from bot.town.tickets.outbox import PHOTO_KIND
from bot.town.tickets.photos import PhotoFetcher, TelegramFiles, TwilioMedia
from connectors.telegram.fake_bot_api import RecordingBotRequest
from tests.photos import image_bytes, jpeg_with_gps
from tests.unit.town.tickets.conftest import START, MovableClock

SENDER = "telegram:777001"
FILE_ID = "AgACAgQAAxkBAAIBQ2"


@pytest.fixture
def telegram() -> RecordingBotRequest:
    return RecordingBotRequest()


def report(store: TicketStore, sender: str = SENDER, file_id: str = FILE_ID) -> str:
    draft = TicketDraft("voirie", "nid de poule", "Rue Carnot", media_url=f"telegram-file:{file_id}",
                        channel="telegram", sender_id=sender)  # fmt: skip
    return store.create_ticket(draft).ref


def worker(engine: Engine, store: TicketStore, media: MediaStore, telegram: RecordingBotRequest, clock: MovableClock):
    fetcher = PhotoFetcher(store, media, TelegramFiles("123:ABC", request=telegram))
    router = KindRouter({PHOTO_KIND: fetcher})
    return OutboxWorker(OutboxStore(engine), router, clock=clock, backoff=Backoff(base_seconds=30, max_attempts=3))


async def test_telegram_photo_is_downloaded_into_the_media_store_without_its_metadata(
    engine: Engine, media: MediaStore, clock: MovableClock, telegram: RecordingBotRequest
) -> None:
    store = TicketStore(engine, clock=clock, media=media)
    ref = report(store)
    assert store.get_ticket(ref).media_url == f"telegram-file:{FILE_ID}"  # type: ignore[union-attr]
    telegram.serve_file(FILE_ID, jpeg_with_gps())

    run = await worker(engine, store, media, telegram, clock).run_once()

    assert run.sent == 1
    assert [c.params for c in telegram.calls if c.endpoint == "getFile"] == [{"file_id": FILE_ID}]
    name = media_name(store.get_ticket(ref).media_url)  # type: ignore[union-attr]
    assert name is not None and media.path_of(name) is not None
    with Image.open(media.path_of(name)) as stored:  # type: ignore[arg-type]
        assert not stored.getexif() and "exif" not in stored.info
    [job] = OutboxStore(engine).jobs(kind=PHOTO_KIND)
    assert job.status == "sent" and job.recipient == SENDER


async def test_a_failed_download_is_retried_and_never_blocks_the_ticket(
    engine: Engine, media: MediaStore, clock: MovableClock, telegram: RecordingBotRequest
) -> None:
    store = TicketStore(engine, clock=clock, media=media)
    ref = report(store)
    w = worker(engine, store, media, telegram, clock)

    first = await w.run_once()  # Telegram does not serve the file yet
    assert first.failed == 1 and store.get_ticket(ref).media_url == f"telegram-file:{FILE_ID}"  # type: ignore[union-attr]
    [job] = OutboxStore(engine).jobs(kind=PHOTO_KIND)
    assert job.status == "failed" and job.next_attempt_at == START + timedelta(seconds=30)

    telegram.serve_file(FILE_ID, image_bytes("JPEG"))
    clock.now += timedelta(seconds=31)
    assert (await w.run_once()).sent == 1
    assert media_name(store.get_ticket(ref).media_url) is not None  # type: ignore[union-attr]


async def test_a_file_that_is_not_an_image_is_dropped_not_retried(
    engine: Engine, media: MediaStore, clock: MovableClock, telegram: RecordingBotRequest
) -> None:
    store = TicketStore(engine, clock=clock, media=media)
    ref = report(store)
    telegram.serve_file(FILE_ID, b"%PDF-1.4 not a photo")

    assert (await worker(engine, store, media, telegram, clock).run_once()).sent == 1

    assert store.get_ticket(ref).media_url is None  # type: ignore[union-attr]
    assert not media.directory.exists() or not any(media.directory.iterdir())


async def test_erasure_before_the_download_cancels_it_and_after_deletes_the_photo(
    engine: Engine, media: MediaStore, clock: MovableClock, telegram: RecordingBotRequest
) -> None:
    store = TicketStore(engine, clock=clock, media=media)
    before, after = report(store, "telegram:1", "FILE1"), report(store, "telegram:2", "FILE2")
    telegram.serve_file("FILE1", image_bytes("JPEG"))
    telegram.serve_file("FILE2", image_bytes("JPEG"))

    erase_sender(engine, "telegram:1", media=media)  # the job goes with the citizen's other rows
    await worker(engine, store, media, telegram, clock).run_once()
    assert store.get_ticket(before).media_url is None  # type: ignore[union-attr]
    assert telegram.downloads == ["photos/FILE2.jpg"]

    photo = media_name(store.get_ticket(after).media_url)  # type: ignore[union-attr]
    assert photo is not None and media.path_of(photo) is not None
    report_ = erase_sender(engine, "telegram:2", media=media)
    assert report_.photos_deleted == 1 and media.path_of(photo) is None


async def test_a_photo_fetched_after_the_ticket_was_anonymised_is_not_kept(
    engine: Engine, media: MediaStore, clock: MovableClock, telegram: RecordingBotRequest
) -> None:
    store = TicketStore(engine, clock=clock, media=media)
    ref = report(store)
    telegram.serve_file(FILE_ID, image_bytes("JPEG"))
    [job] = OutboxStore(engine).jobs(kind=PHOTO_KIND)
    fetcher = PhotoFetcher(store, media, TelegramFiles("123:ABC", request=telegram))
    store.attach_photo(ref, f"telegram-file:{FILE_ID}", None)  # as an anonymisation does

    assert await fetcher.send(job) == "nothing to fetch"
    assert telegram.downloads == [] and (not media.directory.exists() or not any(media.directory.iterdir()))


async def test_retention_deletes_a_fetched_telegram_photo_with_its_old_closed_ticket(
    engine: Engine, media: MediaStore, clock: MovableClock, telegram: RecordingBotRequest
) -> None:
    clock.now = START - timedelta(days=200)
    store = TicketStore(engine, clock=clock, media=media)
    ref = report(store)
    telegram.serve_file(FILE_ID, image_bytes("JPEG"))
    await worker(engine, store, media, telegram, clock).run_once()
    photo = media_name(store.get_ticket(ref).media_url)  # type: ignore[union-attr]
    store.set_status(ref, "traite", note="Rebouché.")

    purged = purge(engine, timedelta(days=180), now=START, media=media)

    assert purged.anonymised_tickets == 1 and media.path_of(photo) is None  # type: ignore[arg-type]


def test_the_fake_bot_api_serves_file_bytes_only_for_known_files() -> None:
    telegram = RecordingBotRequest()
    telegram.serve_file("X", b"\xff\xd8data")
    assert telegram.files == {"photos/X.jpg": b"\xff\xd8data"}
    assert io.BytesIO(telegram.files["photos/X.jpg"]).read(2) == b"\xff\xd8"


ACCOUNT = "AC" + "1" * 32
MMS_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MM{'2' * 32}/Media/ME{'3' * 32}"


class TwilioApi:
    """Twilio's media URL: basic auth with the account's credentials, then a redirect to the file."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host == "media.twiliocdn.example":
            return httpx.Response(200, content=self.data, headers={"content-type": "image/jpeg"})
        expected = "Basic " + base64.b64encode(f"{ACCOUNT}:secret".encode()).decode()
        if request.headers.get("authorization") != expected:
            return httpx.Response(401)
        return httpx.Response(307, headers={"location": "https://media.twiliocdn.example/abc"})


async def test_an_mms_photo_is_downloaded_with_the_account_credentials(
    engine: Engine, media: MediaStore, clock: MovableClock
) -> None:
    store = TicketStore(engine, clock=clock, media=media)
    draft = TicketDraft("graffiti", "tag", "Rue Carnot", media_url=MMS_URL, channel="sms", sender_id="sms:p-1")
    ref = store.create_ticket(draft).ref
    assert store.get_ticket(ref).media_url == f"twilio-media:{MMS_URL}"  # type: ignore[union-attr]
    twilio = TwilioApi(jpeg_with_gps())

    async with httpx.AsyncClient(transport=httpx.MockTransport(twilio.handle)) as client:
        fetcher = PhotoFetcher(store, media, twilio=TwilioMedia(ACCOUNT, "secret", client=client))
        run = await OutboxWorker(OutboxStore(engine), KindRouter({PHOTO_KIND: fetcher}), clock=clock).run_once()

    assert run.sent == 1 and [str(r.url) for r in twilio.requests][0] == MMS_URL
    name = media_name(store.get_ticket(ref).media_url)  # type: ignore[union-attr]
    assert name is not None and media.path_of(name) is not None


@pytest.mark.parametrize(
    "url",
    [
        f"https://api.twilio.com/2010-04-01/Accounts/AC{'9' * 32}/Messages/MM{'2' * 32}/Media/ME{'3' * 32}",
        "twilio-media:https://evil.example/photo.jpg",
    ],
)
async def test_only_this_accounts_media_is_ever_asked_for(
    engine: Engine, media: MediaStore, clock: MovableClock, url: str
) -> None:
    store = TicketStore(engine, clock=clock, media=media)
    ticket = store.create_ticket(TicketDraft("graffiti", "tag", "Rue Carnot", media_url=url, sender_id="sms:p-1"))
    twilio = TwilioApi(image_bytes("JPEG"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(twilio.handle)) as client:
        fetcher = PhotoFetcher(store, media, twilio=TwilioMedia(ACCOUNT, "secret", client=client))
        run = await OutboxWorker(OutboxStore(engine), KindRouter({PHOTO_KIND: fetcher}), clock=clock).run_once()
    assert twilio.requests == []
    if url.startswith("twilio-media:"):  # not a Twilio media URL: never stored
        assert ticket.media_url is None and run.sent + run.failed == 0
    else:  # another account's media: the job fails, nothing is fetched
        assert run.failed == 1 and media_name(store.get_ticket(ticket.ref).media_url) is None  # type: ignore[union-attr]
