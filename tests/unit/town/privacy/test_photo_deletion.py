"""Photos go with what they belong to: erasure and retention delete the files, not only the rows that name them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot.db import create_engine_for
from bot.town.media import MediaStore
from bot.town.privacy import erase_sender, erase_senders, purge
from bot.town.tickets import TicketDraft, TicketStore, create_schema
from tests.photos import image_bytes

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
OLD = NOW - timedelta(days=200)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'guichet.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def media(tmp_path: Path) -> MediaStore:
    return MediaStore(tmp_path / "media")


def report_with_photo(engine: Engine, media: MediaStore, sender_id: str, *, at: datetime = NOW) -> tuple[str, str]:
    """A citizen's report with a photo they uploaded: (ticket reference, photo name)."""
    name = media.save(image_bytes("JPEG"))
    draft = TicketDraft(
        "voirie", "trou", "Rue Carnot", media_url=f"media:{name}", channel="webchat", sender_id=sender_id
    )
    return TicketStore(engine, clock=lambda: at, media=media).create_ticket(draft).ref, name


def upload(media: MediaStore, written_at: datetime) -> str:
    """A photo uploaded at `written_at` that no report took."""
    name = media.save(image_bytes("PNG"))
    os.utime(media.directory / name, (written_at.timestamp(), written_at.timestamp()))
    return name


def test_erasure_deletes_the_citizens_photos_and_no_one_elses(engine: Engine, media: MediaStore) -> None:
    ref, photo = report_with_photo(engine, media, "webchat:erased")
    _, other = report_with_photo(engine, media, "webchat:neighbour")

    report = erase_sender(engine, "webchat:erased", media=media)

    assert media.path_of(photo) is None and media.path_of(other) is not None
    assert TicketStore(engine).get_ticket(ref).media_url is None  # type: ignore[union-attr]
    assert report.photos_deleted == 1 and "1 photo(s) supprimée(s)" in report.summary()


def test_an_admin_erasure_of_several_conversations_deletes_all_their_photos(engine: Engine, media: MediaStore) -> None:
    photos = [report_with_photo(engine, media, sender)[1] for sender in ("sms:abc", "sms:def")]

    report = erase_senders(engine, ["sms:abc", "sms:def"], media=media)

    assert report.photos_deleted == 2 and all(media.path_of(name) is None for name in photos)


def test_retention_deletes_photos_of_old_closed_tickets_and_forgotten_uploads(
    engine: Engine, media: MediaStore
) -> None:
    closed_ref, closed_photo = report_with_photo(engine, media, "webchat:a", at=OLD)
    TicketStore(engine, clock=lambda: OLD).set_status(closed_ref, "traite", note="Rebouché.")
    _, open_photo = report_with_photo(engine, media, "webchat:b", at=OLD)
    forgotten, fresh = upload(media, NOW - timedelta(days=3)), upload(media, NOW - timedelta(hours=1))

    dry = purge(engine, timedelta(days=180), now=NOW, dry_run=True, media=media)
    assert dry.rows["media"] == 2 and media.path_of(closed_photo) and media.path_of(forgotten)
    report = purge(engine, timedelta(days=180), now=NOW, media=media)

    assert report.rows["media"] == 2
    assert media.path_of(closed_photo) is None and media.path_of(forgotten) is None
    assert media.path_of(open_photo) is not None and media.path_of(fresh) is not None  # still needed, or too recent
    assert TicketStore(engine).get_ticket(closed_ref).media_url is None  # type: ignore[union-attr]
