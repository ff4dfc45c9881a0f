"""Every setting of Guichet, read from environment variables (and an optional `.env` file).

One place: processes, actions, connectors and the console all call `get_settings()`.
Secrets have no default; nothing here is required to start the embedded default.
"""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import BaseSettings, Field, validator

from bot.clock import Clock, TownClock, utc_now

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Guichet's configuration; each field maps to the upper-case environment variable of its name."""

    # Where things live
    var_dir: Path = Field(default=ROOT / "var", description="Runtime files: SQLite database, logs, uploads.")
    models_dir: Path = Field(default=ROOT / "models", description="Trained Rasa models.")
    town_data_dir: Path = Field(default=ROOT / "data" / "town", description="The town's catalog.")
    media_dir: Path | None = Field(
        default=None, description="Citizens' photos, re-encoded without metadata; var/media if unset."
    )

    # Processes
    rasa_host: str = "127.0.0.1"
    rasa_port: int = 5005
    action_host: str = "127.0.0.1"
    action_port: int = 5055
    action_bind_host: str | None = Field(
        default=None, description="Address the action server listens on; ACTION_HOST when unset (make run)."
    )
    console_host: str = "127.0.0.1"
    console_port: int = 8000
    rasa_workers: int = 1
    rasa_token: str | None = Field(
        default=None, description="Token of the rasa server's HTTP API; generated under var/ if unset."
    )
    action_timeout_seconds: float = Field(
        default=1.2, description="Wait for an action that only reads (catalog); then « momentanément indisponible »."
    )
    action_write_timeout_seconds: float = Field(
        default=10.0,
        description="Wait for an action that records what the citizen asked (a report, a handoff) on a busy machine.",
    )
    action_server_token: str | None = Field(
        default=None, description="Secret the rasa server shows the action server; generated under var/ if unset."
    )
    request_max_bytes: int = Field(
        default=6 * 1024 * 1024,
        description="Largest request body the rasa server reads (Sanic's REQUEST_MAX_SIZE; 413 above); over uploads.",
    )
    rasa_speedups: bool = Field(
        default=True, description="RASA_SPEEDUPS=on|off: off runs the same bot on plain Rasa (bot/speedups/)."
    )

    # Storage
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; SQLite under var/ when unset.")
    redis_url: str | None = None

    # Town
    town_name: str = "Pau"
    ticket_prefix: str = "PAU"
    timezone: str = "Europe/Paris"
    clock_override: datetime | None = Field(
        default=None,
        description="For tests and demonstrations only: the town's fixed date and time (ISO, town time when naive).",
    )
    public_url: str = "http://127.0.0.1:5005"
    catalog_check_seconds: float = Field(
        default=1.0, description="How often, at most, a process checks whether staff changed the catalog."
    )

    # Channels (off until their secrets are set)
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None
    voice_transfer_number: str | None = Field(
        default=None, description="The switchboard the phone channel transfers callers to in the town hall's hours."
    )
    voice_name: str = Field(default="Polly.Lea", description="Twilio's French text-to-speech voice for phone calls.")
    voice_min_confidence: float = Field(
        default=0.5, description="Below this speech confidence, the phone channel asks « c'est bien cela ? »."
    )
    telegram_token: str | None = None
    telegram_webhook_secret: str | None = None
    identity_secret: str | None = Field(
        default=None, description="Key of the pseudonymous SMS sender ids; generated under var/ if unset."
    )
    allowed_origins: str = "http://127.0.0.1:8000,http://localhost:8000"
    media_url_secret: str | None = Field(
        default=None, description="Key of the signed, expiring photo URLs; derived from the identity secret if unset."
    )
    media_url_ttl_seconds: int = Field(default=3600, description="How long a signed photo URL works.")
    webchat_init_payload: str = Field(
        default="/get_started", description="What the web chat widget sends when opened; answered with the greeting."
    )
    rest_token: str | None = Field(
        default=None, description="Bearer token the REST channel requires from non-local callers; unset: local only."
    )
    proxies_count: int = Field(
        default=0, description="Reverse proxies in front (X-Forwarded-For hops trusted from the right); 0: none."
    )

    # Notifications that reach the citizen (bot/town/tickets/fallback.py, bot/town/mail.py)
    notify_fallback_minutes: float = Field(
        default=60,
        description="Minutes a ticket update may wait for the citizen's own channel before it goes to the contact "
        "they gave (with their consent).",
    )
    smtp_url: str | None = Field(
        default=None,
        description="smtp://user:pass@host:587 (STARTTLS when offered) or smtps://...:465; unset: no e-mail.",
    )
    smtp_from: str | None = Field(
        default=None,
        description="Sender of every e-mail (citizens' updates, staff alerts); unset: ne-pas-repondre@<SMTP host>.",
    )

    # Open311
    open311_api_key: str | None = None
    open311_forward_url: str | None = None
    open311_forward_api_key: str | None = Field(
        default=None, description="The back office's API key, sent as `api_key` with each forwarded ticket."
    )
    open311_poll_minutes: float = Field(
        default=10.0,
        ge=1.0,
        description="Minutes between two questions to the back office about the open tickets it forwarded (1 or more).",
    )

    # Staff alerts (through SMTP_URL above)
    alert_email: str | None = Field(default=None, description="On-call address alerted of each urgent ticket.")
    console_url: str | None = Field(
        default=None, description="The console's public URL (links in alerts, photo URLs sent to the back office)."
    )

    # National appointment portal (Rendez-vous en mairie, ANTS)
    ants_auth_token: str | None = Field(
        default=None, description="Token the portal sends in X-HUB-RDV-AUTH-TOKEN to /api/ants/; unset: refused."
    )

    # Limits and retention
    max_message_chars: int = 2000
    max_body_bytes: int = 64 * 1024
    max_upload_bytes: int = Field(default=5 * 1024 * 1024, description="Largest photo a citizen may upload (web chat).")
    rate_limit_per_minute: int = 30
    upload_rate_limit_per_hour: int = Field(default=20, description="Photos one client address may upload per hour.")
    session_expiration_minutes: int = 60
    console_session_minutes: int = Field(default=60, description="Idle minutes before a staff console session expires.")
    handoff_timeout_seconds: int = Field(default=300, description="Wait before a handoff turns to a call-back.")
    handoff_presence_seconds: int = Field(
        default=30, description="An agent « disponible » whose console page has not polled for this long is absent."
    )
    retention_days: int = 180

    @validator("clock_override", "media_dir", "smtp_url", "alert_email", "console_url", pre=True)
    def _unset_when_empty(cls, value: object) -> object:
        """CLOCK_OVERRIDE= or MEDIA_DIR= (empty, as in .env.example) means unset: the real clock, var/media."""
        return None if value == "" else value

    class Config:
        env_file = ROOT / ".env"
        env_file_encoding = "utf-8"

    @property
    def sqlite_path(self) -> Path:
        """The embedded SQLite database file."""
        return self.var_dir / "guichet.db"

    @property
    def effective_media_dir(self) -> Path:
        """MEDIA_DIR, or var/media."""
        return self.media_dir or self.var_dir / "media"

    @property
    def effective_database_url(self) -> str:
        """DATABASE_URL, or the embedded SQLite file under var/."""
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    @property
    def effective_smtp_from(self) -> str:
        """SMTP_FROM, or a no-reply address at the mail server's domain."""
        host = urlsplit(self.smtp_url or "").hostname or "localhost"
        return self.smtp_from or f"ne-pas-repondre@{host}"

    @property
    def effective_console_url(self) -> str:
        """CONSOLE_URL, or the console's address on this machine."""
        return (self.console_url or f"http://{self.console_host}:{self.console_port}").rstrip("/")

    @property
    def rasa_url(self) -> str:
        """Base URL of the rasa server as seen from this machine."""
        return f"http://{self.rasa_host}:{self.rasa_port}"

    def town_clock(self, real: Clock = utc_now) -> TownClock:
        """The town's clock: `real` (the system clock) in TIMEZONE, or CLOCK_OVERRIDE standing still when it is set."""
        return TownClock(ZoneInfo(self.timezone), self.clock_override, real)


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


def town_now() -> datetime:
    """Now in the town, by this process's settings: the clock the edges pass into `bot.town`."""
    return get_settings().town_clock().now()
