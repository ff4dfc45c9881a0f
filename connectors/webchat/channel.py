"""Web chat channel: Rasa's socket.io protocol on the rasa server, hardened for the town's widget.

Speaks the protocol of Rasa's `SocketIOInput` (`session_request`/`session_confirm`,
`user_uttered`/`bot_uttered`, session persistence) so rasa-webchat 1.x works unchanged, and adds what
the town needs: allowed origins, sessions shared across processes through Redis, button payloads
honoured only when offered (and the widget's init payload as a greeting), message limits, and photo upload for
reports.

Ticket updates for a session whose tab is closed are held in the database (bot/town/tickets/held.py): they are
emitted when the widget comes back with its stored session id (`session_request`), or within `held_poll_seconds`
while a socket of that session is connected to this process; only then does the outbox count them delivered.
Each process emits only to its own sockets (socket.io rooms are local, even with the Redis manager), and a held
update is claimed by one process before it is emitted, so it is shown once.

Rate limits count per client address (behind PROXIES_COUNT proxies, the address they forwarded), never per session
id: the client chooses its session ids, so a limit keyed on them is escaped by rotating them. Uploads need an
allowed `Origin` (a browser always sends one with a POST; a script without one is not the widget).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import rasa.core.channels.channel
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncRedisManager, AsyncServer

from bot.client_address import client_address
from bot.town.media import MediaSigner
from bot.town.tickets.held import HeldMessages
from connectors.shared.guard import Guard, SlidingWindowRateLimiter, Verdict
from connectors.shared.notices import Notices, load_notices
from connectors.shared.offers import MemoryOfferStore, SqlOfferStore
from connectors.shared.senders import WEBCHAT_PREFIX
from connectors.webchat.output import CHANNEL_NAME, WebChatOutput
from connectors.webchat.photos import MAX_UPLOAD_BYTES, SUFFIX_TYPES, PhotoStore

logger = logging.getLogger(__name__)

SENDER_PREFIX = WEBCHAT_PREFIX
UPLOAD_ROUTE = "/upload"
UPLOAD_WINDOW_SECONDS = 3600.0
DEFAULT_UPLOADS_PER_HOUR = 20
HELD_POLL_SECONDS = 1.0

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_NOTICE_OF_VERDICT = {Verdict.RATE_LIMITED: "rate_limited", Verdict.TOO_LONG: "too_long", Verdict.EMPTY: "empty"}


def parse_origins(origins: str | Iterable[str] | None) -> list[str]:
    """Allowed origins from a comma-separated setting or a list, without blanks or trailing slashes."""
    if origins is None:
        return []
    items = origins.split(",") if isinstance(origins, str) else list(origins)
    return [item.strip().rstrip("/") for item in items if item and item.strip()]


def socket_client_address(environ: dict[str, Any], proxies_count: int) -> str:
    """The address of the client opening a socket (the engine.io environ of a Sanic request)."""
    request = environ.get("sanic.request")
    if request is not None:
        return client_address(request.ip or "", request.headers.get("x-forwarded-for"), proxies_count)
    return client_address(environ.get("REMOTE_ADDR", ""), environ.get("HTTP_X_FORWARDED_FOR"), proxies_count)


def requested_session_id(data: Any) -> str | None:
    """The session id a client asks to resume, if well formed (ours are uuid4 hex)."""
    requested = data.get("session_id") if isinstance(data, dict) else None
    return requested if isinstance(requested, str) and _SESSION_ID.match(requested) else None


class WebChatInput(SocketIOInput):
    """The town's web chat: Rasa's socket.io channel with origins, limits, buttons and photo upload."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Build the channel from credentials.yml, falling back to the settings."""
        from bot.settings import ROOT, get_settings
        from bot.town.media import media_signer
        from bot.town.tickets.schema import create_schema
        from connectors.shared.tables import create_channel_engine, create_channel_tables

        credentials = credentials or {}
        settings = get_settings()
        engine = create_channel_engine(settings.effective_database_url)
        create_channel_tables(engine)
        create_schema(engine)  # the held ticket updates live beside the outbox
        guard = Guard(
            SqlOfferStore(engine),
            SlidingWindowRateLimiter(settings.rate_limit_per_minute),
            settings.max_message_chars,
            init_payload=credentials.get("init_payload") or settings.webchat_init_payload,
        )
        return cls(
            user_message_evt=credentials.get("user_message_evt", "user_uttered"),
            bot_message_evt=credentials.get("bot_message_evt", "bot_uttered"),
            namespace=credentials.get("namespace"),
            session_persistence=credentials.get("session_persistence", True),
            socketio_path=credentials.get("socketio_path", "/socket.io"),
            jwt_key=credentials.get("jwt_key"),
            jwt_method=credentials.get("jwt_method", "HS256"),
            metadata_key=credentials.get("metadata_key", "metadata"),
            allowed_origins=parse_origins(credentials.get("allowed_origins") or settings.allowed_origins),
            redis_url=credentials.get("redis_url") or settings.redis_url,
            guard=guard,
            notices=load_notices(ROOT / "domain.yml", credentials.get("notices")),
            upload_dir=settings.effective_media_dir,
            max_upload_bytes=settings.max_upload_bytes,
            media_signer=media_signer(settings),
            public_url=settings.public_url,
            proxies_count=settings.proxies_count,
            upload_limiter=SlidingWindowRateLimiter(settings.upload_rate_limit_per_hour, UPLOAD_WINDOW_SECONDS),
            held=HeldMessages(engine),
        )

    def __init__(
        self,
        user_message_evt: str = "user_uttered",
        bot_message_evt: str = "bot_uttered",
        namespace: str | None = None,
        session_persistence: bool = True,
        socketio_path: str | None = "/socket.io",
        jwt_key: str | None = None,
        jwt_method: str | None = "HS256",
        metadata_key: str | None = "metadata",
        *,
        allowed_origins: list[str] | None = None,
        redis_url: str | None = None,
        guard: Guard | None = None,
        notices: Notices | None = None,
        upload_dir: Path = Path("var/media"),
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        media_signer: MediaSigner | None = None,
        public_url: str | None = None,
        proxies_count: int = 0,
        upload_limiter: SlidingWindowRateLimiter | None = None,
        held: HeldMessages | None = None,
        held_poll_seconds: float = HELD_POLL_SECONDS,
    ) -> None:
        super().__init__(
            user_message_evt, bot_message_evt, namespace, session_persistence,
            socketio_path, jwt_key, jwt_method, metadata_key,
        )  # fmt: skip
        self.allowed_origins = allowed_origins or []
        self.redis_url = redis_url
        self.guard = guard or Guard(MemoryOfferStore(), SlidingWindowRateLimiter(30), 2000)
        self.notices = notices or Notices()
        self.photos = PhotoStore(upload_dir, max_upload_bytes, media_signer)
        self.public_url = public_url.rstrip("/") if public_url else None
        self.proxies_count = proxies_count
        self.upload_limiter = upload_limiter or SlidingWindowRateLimiter(
            DEFAULT_UPLOADS_PER_HOUR, UPLOAD_WINDOW_SECONDS
        )
        self.held = held
        self.held_poll_seconds = held_poll_seconds

    def get_output_channel(self) -> OutputChannel | None:
        """The output channel for proactive messages to open sessions (None before the server starts)."""
        if self.sio is None:
            return super().get_output_channel()
        return self._output(self.sio)

    def _output(self, sio: AsyncServer) -> WebChatOutput:
        return WebChatOutput(sio, self.bot_message_evt, self.guard.offers, self.namespace)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> SocketBlueprint:
        """The socket.io server on `socketio_path` and the upload routes under the channel's prefix."""
        sio = AsyncServer(
            async_mode="sanic",
            # None = same origin only; an explicit list also guards WebSocket handshakes.
            cors_allowed_origins=self.allowed_origins or None,
            cors_credentials=False,
            client_manager=AsyncRedisManager(self.redis_url) if self.redis_url else None,
        )
        self.sio = sio
        bp = SocketBlueprint(sio, self.socketio_path, "webchat_webhook")
        self._add_routes(bp)
        self._add_socket_handlers(sio, on_new_message)
        if self.held is not None:
            self._poll_held_messages(bp, sio)
        return bp

    # --- ticket updates held for sessions that were away ---------------------------------------

    def connected_senders(self, sio: AsyncServer) -> list[str]:
        """The web chat sessions with a socket connected to this process."""
        rooms = sio.manager.rooms.get(self.namespace or "/", {})
        return [room for room, members in rooms.items()
                if isinstance(room, str) and room.startswith(SENDER_PREFIX) and members]  # fmt: skip

    async def deliver_held(self, sio: AsyncServer, sender_ids: list[str]) -> int:
        """Emit the updates held for these connected sessions, each claimed first; how many were delivered."""
        if self.held is None or not sender_ids:
            return 0
        output = self._output(sio)
        delivered = 0
        for held in await asyncio.to_thread(self.held.waiting, CHANNEL_NAME, sender_ids):
            if not await asyncio.to_thread(self.held.claim, held.id):
                continue  # another process took it
            for message in held.messages:
                await output.send_response(held.sender_id, dict(message))
            delivered += 1
        return delivered

    def _poll_held_messages(self, bp: SocketBlueprint, sio: AsyncServer) -> None:
        """While the server runs, hand held updates to sessions connected here (the tab stayed open)."""

        async def poll() -> None:
            while True:
                await asyncio.sleep(self.held_poll_seconds)
                try:
                    await self.deliver_held(sio, self.connected_senders(sio))
                except Exception:  # noqa: BLE001 - a database hiccup must not end the polling
                    logger.exception("Held web chat updates could not be delivered; trying again")

        @bp.listener("after_server_start")
        async def start_polling(app: Any, _loop: Any) -> None:
            app.ctx.webchat_held_task = asyncio.create_task(poll())

        @bp.listener("before_server_stop")
        async def stop_polling(app: Any, _loop: Any) -> None:
            task = getattr(app.ctx, "webchat_held_task", None)
            if task is not None:
                task.cancel()

    # --- HTTP: health and photo upload -------------------------------------------------------

    def _cors_headers(self, request: Request) -> dict[str, str] | None:
        """CORS headers for an allowed Origin; None for a foreign or absent one."""
        origin = request.headers.get("origin")
        if not origin or origin.rstrip("/") not in self.allowed_origins:
            return None
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def _add_routes(self, bp: SocketBlueprint) -> None:
        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route(UPLOAD_ROUTE, methods=["POST"])
        async def upload(request: Request) -> HTTPResponse:
            headers = self._cors_headers(request)
            if headers is None:
                return response.json({"error": "forbidden_origin"}, status=403)
            client = client_address(request.ip or "", request.headers.get("x-forwarded-for"), self.proxies_count)
            if not self.upload_limiter.allow(client):
                return response.json({"error": "rate_limited"}, status=429, headers=headers)
            photo = request.files.get("photo") if request.files else None
            if photo is None:
                return response.json({"error": "missing_photo"}, status=400, headers=headers)
            try:
                name = await self.photos.save(photo.body)
            except ValueError as error:
                status = 413 if str(error) == "too_large" else 415
                return response.json({"error": str(error)}, status=status, headers=headers)
            base = self.public_url or f"{request.scheme}://{request.host}"
            return response.json({"url": self.photos.url(f"{base}{request.path}", name)}, status=201, headers=headers)

        @bp.route(f"{UPLOAD_ROUTE}/<name:str>", methods=["GET"])
        async def photo(request: Request, name: str) -> HTTPResponse:
            path = self.photos.signed_path(name, request.args)
            if path is None:
                return response.json({"error": "not_found"}, status=404)
            return await response.file(
                path,
                mime_type=SUFFIX_TYPES[path.suffix],
                headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"},
            )

    def _photo_url(self, metadata: Any) -> str | None:
        """The photo URL sent with a message, only if it names one of our uploads."""
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                return None
        url = metadata.get("photo_url") if isinstance(metadata, dict) else None
        if not isinstance(url, str):
            return None
        path = urlsplit(url).path
        head, _, name = path.rpartition("/")
        if not head.endswith(UPLOAD_ROUTE) or self.photos.path_of(name) is None:
            return None
        return url

    # --- socket.io: sessions and messages ----------------------------------------------------

    def _sender_id(self, sid: str, session_id: str) -> str:
        return SENDER_PREFIX + (session_id if self.session_persistence else sid)

    async def _bind_session(self, sio: AsyncServer, sid: str, session_id: str) -> str:
        """Tie the socket to a session and join the room that replies and notifications go to."""
        sender_id = self._sender_id(sid, session_id)
        session = await sio.get_session(sid, namespace=self.namespace)
        session.update(session_id=session_id, sender_id=sender_id)
        await sio.save_session(sid, session, namespace=self.namespace)
        # Rasa 3.6 forgets the `await` here (python-socketio 5 made it a coroutine), so with session
        # persistence the socket never joins its room and every reply goes nowhere.
        await sio.enter_room(sid, sender_id, namespace=self.namespace)
        return sender_id

    async def _notice(self, output: WebChatOutput, sender_id: str, field: str) -> None:
        """Answer with one of the channel's own notices."""
        text = self.notices.render(field, max_chars=self.guard.max_chars)
        await output.send_text_message(sender_id, text)

    def _add_socket_handlers(self, sio: AsyncServer, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        namespace = self.namespace

        @sio.on("connect", namespace=namespace)
        async def connect(sid: str, environ: dict, auth: dict | None = None) -> bool:
            client = socket_client_address(environ, self.proxies_count)
            await sio.save_session(sid, {"client": client}, namespace=namespace)
            if not self.jwt_key:
                return True
            token = auth.get("token") if isinstance(auth, dict) else None
            payload = token and rasa.core.channels.channel.decode_bearer_token(token, self.jwt_key, self.jwt_algorithm)
            return bool(payload)

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: str, data: Any = None) -> None:
            bound = (await sio.get_session(sid, namespace=namespace)).get("session_id")
            # A socket that already spoke (message before session_request) keeps that session.
            session_id = requested_session_id(data) or bound or uuid.uuid4().hex
            sender_id = await self._bind_session(sio, sid, session_id)
            await sio.emit("session_confirm", session_id, to=sid, namespace=namespace)
            try:  # the browser came back: what happened to its reports while it was away
                await self.deliver_held(sio, [sender_id])
            except Exception:  # noqa: BLE001 - the poller tries again; the session itself is open
                logger.exception("Held web chat updates of %s could not be delivered", sender_id)

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: str, data: Any = None) -> None:
            data = data if isinstance(data, dict) else {"message": data}
            session = await sio.get_session(sid, namespace=namespace)
            sender_id = session.get("sender_id")
            if sender_id is None:
                # A message before any session_request (e.g. after a server restart): adopt a valid
                # session id from the message, or open a new session, rather than drop the message.
                requested = requested_session_id(data)
                session_id = requested or uuid.uuid4().hex
                sender_id = await self._bind_session(sio, sid, session_id)
                if requested is None:
                    await sio.emit("session_confirm", session_id, to=sid, namespace=namespace)
            await self._handle_text(sio, sender_id, session.get("client") or sender_id, data, on_new_message)

    async def _handle_text(
        self,
        sio: AsyncServer,
        sender_id: str,
        client: str,
        data: dict[str, Any],
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        """Screen one citizen message (rate limited per client address), then hand it on or answer with a notice."""
        output = self._output(sio)
        raw = data.get("message")
        screened = await self.guard.screen(sender_id, raw if isinstance(raw, str) else "", rate_key=client)
        photo_url = self._photo_url(data.get(self.metadata_key))
        text = screened.text
        if screened.verdict is Verdict.EMPTY and photo_url:
            text = self.notices.photo_text  # a photo alone: the report form reads it from the metadata
        elif screened.verdict is not Verdict.PASS:
            await self._notice(output, sender_id, _NOTICE_OF_VERDICT[screened.verdict])
            return
        metadata = {"photo_url": photo_url} if photo_url else {}
        message = UserMessage(text, output, sender_id, input_channel=self.name(), metadata=metadata)
        try:
            await on_new_message(message)
        except Exception:  # noqa: BLE001 - the citizen must get an answer whatever failed
            logger.exception("Web chat message of %s could not be handled.", sender_id)
            await self._notice(output, sender_id, "unavailable")
