"""The console's outbox worker is wired from the settings: every kind of job a ticket can write has its sender, and
the back office gets its key (a forward without it is refused by a standard Open311 back office)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.console.app import back_office_poller, outbox_worker_from_settings
from bot.settings import Settings
from bot.town.mail import SmtpMailer
from bot.town.notify import KindRouter, RasaNotifier
from bot.town.tickets import AsyncTicketStore, TicketStore
from bot.town.tickets.alerts import UrgentAlertSender
from bot.town.tickets.forward import Open311Forwarder
from bot.town.tickets.outbox import ALERT_KIND, FALLBACK_KIND, FORWARD_KIND, NOTIFY_KIND, PHOTO_KIND
from bot.town.tickets.photos import PhotoFetcher
from bot.town.tickets.satisfaction import SATISFACTION_KIND
from bot.town.tickets.store import store_from_settings


def settings_with(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, var_dir=tmp_path, **values)


def router_of(settings: Settings) -> tuple[KindRouter, TicketStore]:
    store = AsyncTicketStore(store_from_settings(settings))
    router = outbox_worker_from_settings(settings, store).notifier
    assert isinstance(router, KindRouter)
    return router, store.sync


def test_every_kind_of_job_has_its_sender_when_configured(tmp_path: Path) -> None:
    settings = settings_with(
        tmp_path, telegram_token="123:ABC", smtp_url="smtp://mail.pau.example:2525",
        alert_email="astreinte@pau.example", open311_forward_url="https://bo.pau.example/open311/v2",
        open311_forward_api_key="bo-key", console_url="https://console.pau.example/",
    )  # fmt: skip
    router, store = router_of(settings)

    assert set(router.notifiers) == {
        NOTIFY_KIND, SATISFACTION_KIND, FALLBACK_KIND, PHOTO_KIND, ALERT_KIND, FORWARD_KIND
    }  # fmt: skip
    assert isinstance(router.notifiers[NOTIFY_KIND], RasaNotifier)
    assert isinstance(router.notifiers[PHOTO_KIND], PhotoFetcher)
    alert = router.notifiers[ALERT_KIND]
    assert isinstance(alert, UrgentAlertSender) and isinstance(alert.mailer, SmtpMailer)
    assert (alert.mailer.server.host, alert.mailer.server.port) == ("mail.pau.example", 2525)
    forward = router.notifiers[FORWARD_KIND]
    assert isinstance(forward, Open311Forwarder) and forward.api_key == "bo-key"
    assert forward.url == "https://bo.pau.example/open311/v2/requests.json"
    assert forward.photo_url is not None and forward.photo_url("a.jpg").startswith(
        "https://console.pau.example/media/a.jpg?expires="
    )
    assert (store.alert_email, store.console_url) == ("astreinte@pau.example", "https://console.pau.example")
    poller = back_office_poller(settings, store)
    assert poller.api_key == "bo-key" and poller.requests_url == forward.url


def test_without_those_settings_only_citizen_notifications_are_sent(tmp_path: Path) -> None:
    router, store = router_of(settings_with(tmp_path))
    assert set(router.notifiers) == {NOTIFY_KIND, SATISFACTION_KIND}
    assert store.alert_email is None and not store.forward_new_tickets


def test_the_back_office_is_asked_at_most_once_a_minute(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="open311_poll_minutes"):
        settings_with(tmp_path, open311_poll_minutes=0)
    assert settings_with(tmp_path).open311_poll_minutes == 10.0
