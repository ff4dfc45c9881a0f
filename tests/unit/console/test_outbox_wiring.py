"""The console's outbox worker falls back only on the channels the town configured."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.console.app import outbox_worker_from_settings
from bot.settings import Settings
from bot.town.tickets.async_store import AsyncTicketStore
from bot.town.tickets.store import store_from_settings

TWILIO = {"twilio_account_sid": "AC" + "0" * 32, "twilio_auth_token": "t", "twilio_from_number": "+33536490000"}


def worker(tmp_path: Path, **fields: object):  # type: ignore[no-untyped-def]
    settings = Settings(_env_file=None, var_dir=tmp_path, identity_secret="s", **fields)
    return outbox_worker_from_settings(settings, AsyncTicketStore(store_from_settings(settings)))


def test_without_smtp_or_twilio_nothing_falls_back(tmp_path: Path) -> None:
    assert worker(tmp_path).fallback is None


def test_email_and_sms_fall_back_after_the_configured_delay(tmp_path: Path) -> None:
    planner = worker(tmp_path, smtp_url="smtp://127.0.0.1:2525", notify_fallback_minutes=5, **TWILIO).fallback
    assert planner is not None and planner.channels == {"email", "sms"} and planner.after == timedelta(minutes=5)


def test_email_only_when_twilio_is_off(tmp_path: Path) -> None:
    planner = worker(tmp_path, smtp_url="smtps://u:p@mail.example").fallback
    assert planner is not None and planner.channels == {"email"}
