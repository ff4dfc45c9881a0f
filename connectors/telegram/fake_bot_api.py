"""A fake of the Telegram Bot API at the transport: it records calls and answers as scripted.

Tests use it with the real client library: python-telegram-bot's `Bot` built on this `request`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from telegram.request import BaseRequest, RequestData

FAKE_BOT = {"id": 777000111, "is_bot": True, "first_name": "Guichet", "username": "GuichetPauBot"}


@dataclass
class BotApiCall:
    """One recorded Bot API call."""

    endpoint: str
    params: dict[str, Any]


def _default_result(endpoint: str, params: dict[str, Any]) -> Any:
    if endpoint in ("sendMessage", "sendPhoto"):
        message: dict[str, Any] = {
            "message_id": int(time.time() * 1000) % 1_000_000,
            "date": int(time.time()),
            "chat": {"id": int(params.get("chat_id", 0)), "type": "private"},
            "from": FAKE_BOT,
        }
        if "text" in params:
            message["text"] = params["text"]
        return message
    if endpoint == "getFile":
        file_id = str(params.get("file_id"))
        return {"file_id": file_id, "file_unique_id": "u" + file_id[-6:], "file_path": f"photos/{file_id}.jpg"}
    if endpoint == "getMe":
        return FAKE_BOT
    return True


class RecordingBotRequest(BaseRequest):
    """A Bot API transport that records calls and answers 200 with plausible results unless scripted.

    It also serves files: bytes given to `serve_file` are the download of `getFile`'s `file_path`
    (`photos/<file_id>.jpg`); any other file is a 404.
    """

    def __init__(self) -> None:
        self.calls: list[BotApiCall] = []
        self.scripted: dict[str, deque[tuple[int, dict[str, Any]]]] = defaultdict(deque)
        self.files: dict[str, bytes] = {}
        self.downloads: list[str] = []

    def serve_file(self, file_id: str, data: bytes) -> None:
        """Make `data` the content of the file `file_id`."""
        self.files[f"photos/{file_id}.jpg"] = data

    def script(self, endpoint: str, status: int, body: dict[str, Any]) -> None:
        """Answer the next call to `endpoint` with this HTTP status and JSON body."""
        self.scripted[endpoint].append((status, body))

    def sent(self, endpoint: str = "sendMessage") -> list[dict[str, Any]]:
        """Parameters of the calls made to `endpoint`, in order."""
        return [call.params for call in self.calls if call.endpoint == endpoint]

    @property
    def read_timeout(self) -> float | None:
        """No real network: no timeout."""
        return None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Record the call; answer as scripted, else 200 with a default result."""
        await asyncio.sleep(0)
        if "/file/bot" in url:  # a download of a file's content, not a Bot API method
            path = url.split("/file/bot", 1)[1].split("/", 1)[1]
            self.downloads.append(path)
            data = self.files.get(path)
            return (200, data) if data is not None else (404, b'{"ok": false, "error_code": 404}')
        endpoint = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data is not None else {}
        self.calls.append(BotApiCall(endpoint, params))
        if self.scripted[endpoint]:
            status, body = self.scripted[endpoint].popleft()
            return status, json.dumps(body).encode("utf-8")
        return 200, json.dumps({"ok": True, "result": _default_result(endpoint, params)}).encode("utf-8")
