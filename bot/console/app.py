"""The console's Sanic application factory (for now: the Open311 API and the outbox worker)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import timedelta

from sanic import Sanic
from sqlalchemy.engine import Engine

from bot.console.ants import create_ants_blueprint
from bot.console.demo import create_demo_blueprint
from bot.console.media import MEDIA_ROUTE
from bot.console.open311 import create_open311_blueprint
from bot.console.pages import register_console
from bot.settings import Settings, get_settings
from bot.town.catalog.geocoding import Geocoded, LiveGeocoder, live_geocoder_from_settings
from bot.town.media import MediaStore, media_signer, media_store
from bot.town.privacy.retention import purge_daily
from bot.town.tickets.async_store import AsyncTicketStore
from bot.town.tickets.forward import Open311StatusPoller
from bot.town.tickets.outbox import OutboxStore, OutboxWorker
from bot.town.tickets.schema import create_schema
from bot.town.tickets.store import TicketStore, store_from_settings

MAX_REQUEST_BYTES = 1024 * 1024


def create_app(
    settings: Settings | None = None,
    *,
    store: AsyncTicketStore | None = None,
    outbox_worker: OutboxWorker | None = None,
    name: str = "guichet_console",
    geocode: Callable[[str], Geocoded | None] | None = None,
) -> Sanic:
    """Build the console app; without an injected store it opens DATABASE_URL, runs the outbox worker, and locates
    Open311 addresses with the database's address base."""
    settings = settings or get_settings()
    app = Sanic(name)
    app.config.REQUEST_MAX_SIZE = MAX_REQUEST_BYTES

    if store is None:
        store = AsyncTicketStore(store_from_settings(settings))
        geocode = geocode or _geocode_from_settings(settings)
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
            geocode=geocode,
        )
    )
    app.blueprint(create_demo_blueprint(settings.public_url, settings))
    register_console(app, settings, engine=store.sync.engine)
    _register_ants(app, settings)
    if outbox_worker is not None:
        _run_in_background(app, outbox_worker)
        if settings.open311_forward_url:
            _poll_back_office(app, back_office_poller(settings, store.sync), settings.open311_poll_minutes * 60)
    return app


def _register_ants(app: Sanic, settings: Settings) -> None:
    """The national appointment portal's editor API (/api/ants/), over the appointments and live catalog of the
    console's pages (registered first, with their tables created at start-up)."""
    app.blueprint(
        create_ants_blueprint(
            app.ctx.appointments, app.ctx.live_catalog.get, token=settings.ants_auth_token,
            public_url=settings.public_url, clock=settings.town_clock().now,
        )
    )  # fmt: skip


def _geocode_from_settings(settings: Settings) -> Callable[[str], Geocoded | None]:
    """Locate an address with the live geocoder of DATABASE_URL, opened at first use (blocking: call in a thread)."""
    opened: list[LiveGeocoder] = []
    lock = threading.Lock()

    def geocode(text: str) -> Geocoded | None:
        with lock:
            if not opened:
                opened.append(live_geocoder_from_settings(settings))
        return opened[0].get().geocode(text)

    return geocode


def outbox_worker_from_settings(settings: Settings, store: AsyncTicketStore) -> OutboxWorker:
    """The worker of every outbox job: ticket updates through the rasa server, falling back after
    NOTIFY_FALLBACK_MINUTES to the contact the citizen gave with their consent (e-mail when SMTP_URL is set, SMS when
    Twilio is); the satisfaction question once a ticket is closed; Telegram and MMS photos into the media store
    (TELEGRAM_TOKEN; TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN); urgent alerts by e-mail (SMTP_URL, ALERT_EMAIL);
    forwards to OPEN311_FORWARD_URL."""
    from functools import partial

    from bot.settings import ROOT
    from bot.town.notify import ChannelRouter, KindRouter, Notifier, RasaNotifier
    from bot.town.privacy.pseudonyms import load_identity_secret, sms_sender_id
    from bot.town.tickets.fallback import EMAIL, SMS, FallbackPlanner, SmsFallbackNotifier
    from bot.town.tickets.outbox import ALERT_KIND, FALLBACK_KIND, FORWARD_KIND, NOTIFY_KIND, PHOTO_KIND
    from bot.town.tickets.satisfaction import SATISFACTION_INTENT, SATISFACTION_KIND

    engine = store.sync.engine
    rasa = RasaNotifier(settings.rasa_url, settings.rasa_token)
    notifiers: dict[str, Notifier] = {
        NOTIFY_KIND: rasa,
        SATISFACTION_KIND: RasaNotifier(settings.rasa_url, settings.rasa_token, intent=SATISFACTION_INTENT),
    }
    fallbacks: dict[str, Notifier] = {}
    if settings.smtp_url:
        from bot.town.mail import SmtpMailer
        from bot.town.tickets.alerts import UrgentAlertSender
        from bot.town.tickets.email_updates import EmailNotifier, NotificationTexts

        mailer = SmtpMailer.from_url(settings.smtp_url, sender=settings.effective_smtp_from)
        notifiers[ALERT_KIND] = UrgentAlertSender(mailer)
        texts = NotificationTexts.from_domain(ROOT / "domain.yml", settings.town_name)
        fallbacks[EMAIL] = EmailNotifier(mailer, texts, tickets=store.sync)
    telegram_token, twilio = settings.telegram_token, (settings.twilio_account_sid, settings.twilio_auth_token)
    if telegram_token or all(twilio):
        from bot.town.tickets.photos import PhotoFetcher, TelegramFiles, TwilioMedia

        notifiers[PHOTO_KIND] = PhotoFetcher(
            store.sync,
            media_store(settings),
            TelegramFiles(telegram_token) if telegram_token else None,
            twilio=TwilioMedia(*twilio, max_bytes=settings.max_upload_bytes) if all(twilio) else None,  # type: ignore[arg-type]
        )
    sender_id_of = None
    if all(twilio) and settings.twilio_from_number:
        sender_id_of = partial(sms_sender_id, load_identity_secret(settings.identity_secret, settings.var_dir))
        fallbacks[SMS] = SmsFallbackNotifier(store.sync, rasa, sender_id_of)
    fallback = None
    if fallbacks:
        notifiers[FALLBACK_KIND] = ChannelRouter(fallbacks)
        after = timedelta(minutes=settings.notify_fallback_minutes)
        fallback = FallbackPlanner(engine, after, channels=fallbacks, sms_sender_id=sender_id_of)
    if settings.open311_forward_url:
        from bot.town.tickets.forward import Open311Forwarder

        signer, media_base = media_signer(settings), f"{settings.effective_console_url}{MEDIA_ROUTE}"
        notifiers[FORWARD_KIND] = Open311Forwarder(
            settings.open311_forward_url,
            api_key=settings.open311_forward_api_key,
            tickets=store.sync,
            photo_url=lambda name: signer.url(media_base, name),
        )
    return OutboxWorker(OutboxStore(engine), KindRouter(notifiers), fallback=fallback)


def back_office_poller(settings: Settings, tickets: TicketStore) -> Open311StatusPoller:
    """The poller of OPEN311_FORWARD_URL's statuses, with its key."""
    assert settings.open311_forward_url, "a back office poller needs OPEN311_FORWARD_URL"
    return Open311StatusPoller(settings.open311_forward_url, tickets, api_key=settings.open311_forward_api_key)


def _poll_back_office(app: Sanic, poller: Open311StatusPoller, interval_seconds: float) -> None:
    """Ask the back office about the forwarded open tickets every OPEN311_POLL_MINUTES while the console runs."""

    @app.after_server_start
    async def _start_polling(app: Sanic, _loop: object) -> None:
        app.ctx.poll_stop = asyncio.Event()
        app.ctx.poll_task = asyncio.create_task(
            poller.run_forever(app.ctx.poll_stop, interval_seconds=interval_seconds)
        )

    @app.before_server_stop
    async def _stop_polling(app: Sanic, _loop: object) -> None:
        app.ctx.poll_stop.set()
        await app.ctx.poll_task
        await poller.aclose()


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
