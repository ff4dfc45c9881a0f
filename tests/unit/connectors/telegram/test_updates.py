"""Telegram updates, as Telegram sends them, are read by python-telegram-bot and classified."""

from __future__ import annotations

from typing import Any

import pytest
from telegram import Update

from connectors.telegram.updates import Kind, chat_id_of, event_from_update, sender_id_for

CHAT_ID = 424242
USER = {"id": CHAT_ID, "is_bot": False, "first_name": "Camille", "language_code": "fr"}
CHAT = {"id": CHAT_ID, "type": "private", "first_name": "Camille"}


def message(**content: Any) -> dict[str, Any]:
    """A private message update with the given content."""
    return {"update_id": 1000, "message": {"message_id": 7, "date": 1767261600, "chat": CHAT, "from": USER, **content}}


def command(text: str) -> dict[str, Any]:
    """A message that starts with a bot command entity."""
    length = len(text.split()[0])
    return message(text=text, entities=[{"type": "bot_command", "offset": 0, "length": length}])


def parse(data: dict[str, Any]):
    return event_from_update(Update.de_json(data, None))


def test_text_message_is_text_from_a_namespaced_sender() -> None:
    event = parse(message(text="Horaires de la médiathèque ?"))
    assert (event.kind, event.text, event.chat_id) == (Kind.TEXT, "Horaires de la médiathèque ?", CHAT_ID)
    assert sender_id_for(CHAT_ID) == "telegram:424242" and chat_id_of("telegram:424242") == CHAT_ID


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("/start", "/greet"),
        ("/start abc123", "/greet"),
        ("/aide", "/help"),
        ("/AIDE@GuichetPauBot", "/help"),
        ("/help", "/help"),
    ],
)
def test_start_and_aide_commands_become_greet_and_help(text: str, intent: str) -> None:
    event = parse(command(text))
    assert (event.kind, event.text) == (Kind.COMMAND, intent)


def test_unknown_command_is_ordinary_text_for_the_guard() -> None:
    event = parse(command("/restart"))
    assert (event.kind, event.text) == (Kind.TEXT, "/restart")


def test_edited_message_is_text_marked_as_edited() -> None:
    data = {
        "update_id": 1001,
        "edited_message": {**message(text="x")["message"], "text": "rue Serviez", "edit_date": 1767261700},
    }
    event = parse(data)
    assert (event.kind, event.text, event.metadata) == (Kind.TEXT, "rue Serviez", {"edited": True})


def test_callback_query_carries_the_button_data_and_its_id() -> None:
    data = {
        "update_id": 1002,
        "callback_query": {
            "id": "cbq-1",
            "from": USER,
            "chat_instance": "ci-1",
            "data": "/affirm",
            "message": {"message_id": 8, "date": 1767261600, "chat": CHAT, "text": "Confirmez-vous ?"},
        },
    }
    event = parse(data)
    assert (event.kind, event.text, event.callback_query_id, event.chat_id) == (
        Kind.CALLBACK,
        "/affirm",
        "cbq-1",
        CHAT_ID,
    )


def test_shared_location_is_passed_as_metadata() -> None:
    event = parse(message(location={"latitude": 43.2951, "longitude": -0.3708, "horizontal_accuracy": 12.5}))
    assert event.kind is Kind.LOCATION
    assert event.metadata == {"location": {"lat": 43.2951, "lon": -0.3708, "accuracy_m": 12.5}}


def test_photo_keeps_its_largest_size_and_caption() -> None:
    sizes = [
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 67},
        {"file_id": "large", "file_unique_id": "l", "width": 1280, "height": 960, "file_size": 180000},
    ]
    event = parse(message(photo=sizes, caption="Nid de poule rue Carnot"))
    assert (event.kind, event.text) == (Kind.PHOTO, "Nid de poule rue Carnot")
    assert event.metadata["photo"] == {"file_id": "large", "file_unique_id": "l", "width": 1280, "height": 960}


def test_image_sent_as_a_file_is_a_photo() -> None:
    document = {
        "file_id": "doc1",
        "file_unique_id": "d1",
        "mime_type": "image/jpeg",
        "file_name": "trou.jpg",
        "file_size": 2000,
    }
    assert parse(message(document=document)).kind is Kind.PHOTO


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (
            {
                "sticker": {
                    "file_id": "st",
                    "file_unique_id": "st",
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                }
            },
            "sticker",
        ),
        ({"voice": {"file_id": "vo", "file_unique_id": "vo", "duration": 3}}, "voice"),
        ({"video": {"file_id": "vi", "file_unique_id": "vi", "width": 640, "height": 480, "duration": 5}}, "video"),
        ({"document": {"file_id": "pdf", "file_unique_id": "pdf", "mime_type": "application/pdf"}}, "document"),
        ({"contact": {"phone_number": "+33536490012", "first_name": "Camille"}}, "contact"),
    ],
)
def test_unsupported_content_is_named(content: dict[str, Any], kind: str) -> None:
    event = parse(message(**content))
    assert (event.kind, event.metadata) == (Kind.UNSUPPORTED, {"unsupported": kind})


def test_group_messages_and_other_updates_are_ignored() -> None:
    group = message(text="salut")
    group["message"]["chat"] = {"id": -100123, "type": "group", "title": "Quartier"}
    assert parse(group).kind is Kind.IGNORED
    assert (
        parse(
            {
                "update_id": 5,
                "channel_post": {
                    "message_id": 1,
                    "date": 1767261600,
                    "chat": {"id": -1, "type": "channel"},
                    "text": "x",
                },
            }
        ).kind
        is Kind.IGNORED
    )
    assert parse(message(new_chat_title="x")).kind is Kind.IGNORED
