"""The console's Sanic application factory (for now: the Open311 API and the outbox worker)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sanic import Sanic
from sqlalchemy.engine import Engine

from bot.console.demo import create_demo_blueprint
from bot.console.open311 import create_open311_blueprint
from bot.console.pages import register_console
from bot.settings import Settings, get_settings
from bot.town.media import MediaStore, media_signer, media_store
from bot.town.privacy.retention import purge_daily
from bot.town.tickets.async_store import AsyncTicketStore
from bot.town.tickets.outbox import OutboxStore, OutboxWorker
from bot.town.tickets.schema import create_schema
from bot.town.tickets.store import store_from_settings

MAX_REQUEST_BYTES = 1024 * 1024


def create_app(
    settings: Settings | None = None,
    *,
    store: AsyncTicketStore | None = None,
    outbox_worker: OutboxWorker | None = None,
    name: str = "guichet_console",
) -> Sanic:
    """Build the console app; without an injected store it opens DATABASE_URL and also runs the outbox worker."""
    settings = settings or get_settings()
    app = Sanic(name)
    app.config.REQUEST_MAX_SIZE = MAX_REQUEST_BYTES

    if store is None:
        store = AsyncTicketStore(store_from_settings(settings))
        outbox_worker = outbox_worker or outbox_worker_from_settings(settings, store)
        engine = store.sync.engine

        @app.before_server_start
        async def _create_schema(app: Sanic, _loop: object) -> None:
            await asyncio.to_thread(create_schema, engine)

        _purge_daily(app, engine, timedelta(days=settings.retention_days), media_store(settings))

    app.ctx.tickets = store
    app.blueprint(
        create_open311_blueprint(
            store,
            api_key=settings.open311_api_key,
            timezone_name=settings.timezone,
            media_signer=media_signer(settings),
        )
    )
    app.blueprint(create_demo_blueprint(settings.public_url, settings))
    register_console(app, settings, engine=store.sync.engine)
    if outbox_worker is not None:
        _run_in_background(app, outbox_worker)
    return app


def outbox_worker_from_settings(settings: Settings, store: AsyncTicketStore) -> OutboxWorker:
    """The worker that pushes ticket updates through the rasa server, falls back after NOTIFY_FALLBACK_MINUTES to
    the contact the citizen gave with their consent (e-mail when SMTP_URL is set, SMS when Twilio is), and forwards
    to OPEN311_FORWARD_URL."""
    from functools import partial

    from bot.settings import ROOT
    from bot.town.mail import EmailNotifier, NotificationTexts, SmtpConfig
    from bot.town.notify import ChannelRouter, KindRouter, Notifier, RasaNotifier
    from bot.town.privacy.pseudonyms import load_identity_secret, sms_sender_id
    from bot.town.tickets.fallback import EMAIL, SMS, FallbackPlanner, SmsFallbackNotifier
    from bot.town.tickets.forward import Open311Forwarder
    from bot.town.tickets.outbox import FALLBACK_KIND, FORWARD_KIND, NOTIFY_KIND

    engine = store.sync.engine
    rasa = RasaNotifier(settings.rasa_url, settings.rasa_token)
    notifiers: dict[str, Notifier] = {NOTIFY_KIND: rasa}
    fallbacks: dict[str, Notifier] = {}
    if settings.smtp_url:
        texts = NotificationTexts.from_domain(ROOT / "domain.yml", settings.town_name)
        sender = settings.smtp_from or f"ne-pas-repondre@{SmtpConfig.from_url(settings.smtp_url).hostname}"
        fallbacks[EMAIL] = EmailNotifier(SmtpConfig.from_url(settings.smtp_url), sender, texts, tickets=store.sync)
    sender_id_of = None
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from_number:
        sender_id_of = partial(sms_sender_id, load_identity_secret(settings.identity_secret, settings.var_dir))
        fallbacks[SMS] = SmsFallbackNotifier(store.sync, rasa, sender_id_of)
    fallback = None
    if fallbacks:
        notifiers[FALLBACK_KIND] = ChannelRouter(fallbacks)
        after = timedelta(minutes=settings.notify_fallback_minutes)
        fallback = FallbackPlanner(engine, after, channels=fallbacks, sms_sender_id=sender_id_of)
    if settings.open311_forward_url:
        notifiers[FORWARD_KIND] = Open311Forwarder(settings.open311_forward_url)
    return OutboxWorker(OutboxStore(engine), KindRouter(notifiers), fallback=fallback)


def _run_in_background(app: Sanic, worker: OutboxWorker) -> None:
    """Start the worker with the server and stop it, gracefully, with it."""

    @app.after_server_start
    async def _start(app: Sanic, _loop: object) -> None:
        app.ctx.outbox_stop = asyncio.Event()
        app.ctx.outbox_task = asyncio.create_task(worker.run_forever(app.ctx.outbox_stop))

    @app.before_server_stop
    async def _stop(app: Sanic, _loop: object) -> None:
        app.ctx.outbox_stop.set()
        await app.ctx.outbox_task


def _purge_daily(app: Sanic, engine: Engine, older_than: timedelta, media: MediaStore) -> None:
    """The retention purge (bot/town/privacy/retention.py): at start-up, then once a day, while the console runs."""

    @app.after_server_start
    async def _start_purge(app: Sanic, _loop: object) -> None:
        app.ctx.purge_stop = asyncio.Event()
        app.ctx.purge_task = asyncio.create_task(purge_daily(engine, older_than, app.ctx.purge_stop, media=media))

    @app.before_server_stop
    async def _stop_purge(app: Sanic, _loop: object) -> None:
        app.ctx.purge_stop.set()
        await app.ctx.purge_task


def run_console(settings: Settings | None = None) -> None:
    """Serve the console on CONSOLE_HOST:CONSOLE_PORT until interrupted (one process, one worker)."""
    from bot.town.notify import hide_tokens_in_logs

    hide_tokens_in_logs()  # the rasa token travels in the URLs the console calls
    settings = settings or get_settings()
    app = create_app(settings)
    app.run(host=settings.console_host, port=settings.console_port, access_log=False, motd=False)
