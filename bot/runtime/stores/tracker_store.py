"""The conversation store: Rasa's SQL tracker store on DATABASE_URL (SQLite under var/ by default).

Configured in endpoints.yml as `type: bot.runtime.stores.tracker_store.GuichetTrackerStore`. Unlike Rasa's defaults,
a database that cannot be reached at start-up stops the server with a clear error instead of retrying forever or
falling back to memory, which would silently lose conversations.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot.db import apply_sqlite_pragmas
from bot.settings import get_settings
from bot.town.privacy import conversation_erased, find_personal_data, mask_event

if TYPE_CHECKING:
    from bot.town.catalog import Catalog
    from bot.town.catalog.live import LiveCatalog

logger = logging.getLogger(__name__)


class TrackerStoreUnavailable(RuntimeError):
    """The conversation database cannot be reached."""


def wait_for_database(url: str, attempts: int = 5, delay_seconds: float = 1.0) -> None:
    """Connect once to `url`, retrying a few times; raise TrackerStoreUnavailable if it never answers."""
    engine = sa.create_engine(url, future=True)
    try:
        for attempt in range(1, attempts + 1):
            try:
                with engine.connect() as connection:
                    connection.execute(sa.text("SELECT 1"))
                return
            except sa.exc.OperationalError as error:
                logger.warning("Conversation database not reachable (attempt %d/%d): %s", attempt, attempts, error)
                if attempt < attempts:
                    time.sleep(delay_seconds)
    finally:
        engine.dispose()
    raise TrackerStoreUnavailable(f"The conversation database {sa.engine.make_url(url)!r} cannot be reached.")


SAVE_ATTEMPTS = 4


@dataclass(frozen=True)
class _Statements:
    """Rasa's queries on the events table as SQL statements built once (SQLAlchemy caches their compiled form).

    Rasa builds an ORM query for every read and every save and saves through the ORM unit of work; the statements
    are the same SQL: the events of the latest session are those stamped at or after its last `session_started`
    event, or all of them before the first one.
    """

    last_session: Any
    all_sessions: Any
    stored_in_last_session: Any
    insert: Any
    delete: Any

    @classmethod
    def for_table(cls, events: sa.Table) -> _Statements:
        sender = sa.bindparam("sender_id")
        session_start = (
            sa.select(sa.func.max(events.c.timestamp))
            .where(events.c.sender_id == sender, events.c.type_name == SessionStarted.type_name)
            .scalar_subquery()
        )
        in_last_session = sa.and_(
            events.c.sender_id == sender, sa.or_(events.c.timestamp >= session_start, session_start.is_(None))
        )
        return cls(
            last_session=sa.select(events.c.data).where(in_last_session).order_by(events.c.id),
            all_sessions=sa.select(events.c.data).where(events.c.sender_id == sender).order_by(events.c.id),
            stored_in_last_session=sa.select(sa.func.count()).select_from(events).where(in_last_session),
            insert=events.insert(),
            delete=events.delete().where(events.c.sender_id == sender),
        )


# How many of a tracker's events are already in the database, kept on the tracker by the store that read or saved it.
# Rasa reads a conversation, adds the turn's events and saves it, under the conversation's lock (no other process
# writes it meanwhile): the save needs no query to know which events are new.
STORED_ATTRIBUTE = "_guichet_stored_events"


def _remember_stored(tracker: DialogueStateTracker, count: int) -> None:
    setattr(tracker, STORED_ATTRIBUTE, count)


class GuichetTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store on Guichet's database; personal data is masked before it is stored."""

    _keep: tuple[tuple[int, int], frozenset[str]] | None = None  # ((domain id, catalog id), the public contacts)
    _live_catalog: LiveCatalog | None = None
    engine: sa.engine.Engine  # set by Rasa's SQLTrackerStore

    def __init__(
        self,
        domain: Domain | None = None,
        host: str | None = None,
        event_broker: EventBroker | None = None,
        **kwargs: Any,
    ) -> None:
        settings = get_settings()
        url = host or settings.effective_database_url
        if url.startswith("sqlite:///"):
            settings.var_dir.mkdir(parents=True, exist_ok=True)
        wait_for_database(url)
        super().__init__(domain=domain, host=url, event_broker=event_broker, **kwargs)
        if sa.engine.make_url(url).get_backend_name() == "sqlite":
            self._keep_sqlite_connections_open(url)
        self._sql = _Statements.for_table(self.SQLEvent.__table__)

    def _keep_sqlite_connections_open(self, url: str) -> None:
        """Pool SQLite connections: SQLAlchemy 1.4 opens and closes one per session on a file (NullPool)."""
        self.engine.dispose()
        self.engine = sa.create_engine(
            url, poolclass=sa.pool.QueuePool, connect_args={"check_same_thread": False, "timeout": 30}
        )

        @sa.event.listens_for(self.engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            apply_sqlite_pragmas(dbapi_connection, wal=True)  # as the ticket store does on the same file

        self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool) -> DialogueStateTracker | None:
        """Read a conversation off the event loop (Rasa queries on it), then rebuild its tracker."""
        events = await asyncio.to_thread(self._load_events, sender_id, fetch_events_from_all_sessions)
        if not self.domain or not events:
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        if not fetch_events_from_all_sessions:
            _remember_stored(tracker, len(events))
        return tracker

    def _load_events(self, sender_id: str, fetch_events_from_all_sessions: bool) -> list[dict[str, Any]]:
        statement = self._sql.all_sessions if fetch_events_from_all_sessions else self._sql.last_session
        with self.engine.connect() as connection:
            rows = connection.execute(statement, {"sender_id": sender_id}).scalars().all()
        return [json.loads(data) for data in rows]

    def public_contacts(self) -> frozenset[str]:
        """The public contacts of the current domain and of the town's live catalog, recomputed when either changes."""
        catalog = self._catalog()
        key = (id(self.domain), id(catalog))  # the live catalog is a new object only after a change
        if self._keep is None or self._keep[0] != key:
            catalog_contacts = catalog.public_contacts() if catalog is not None else frozenset()
            self._keep = (key, public_contacts(self.domain, catalog_contacts))
        return self._keep[1]

    def _catalog(self) -> Catalog | None:
        """The catalog in this store's database (checked for changes at most once per CATALOG_CHECK_SECONDS)."""
        from bot.db import create_engine_for
        from bot.town.catalog import CatalogError
        from bot.town.catalog.live import LiveCatalog
        from bot.town.catalog.store import CatalogStore

        try:
            if self._live_catalog is None:
                settings = get_settings()
                store = CatalogStore(create_engine_for(self.engine.url.render_as_string(hide_password=False)))
                store.create_schema()
                self._live_catalog = LiveCatalog(store, settings.town_data_dir, settings.catalog_check_seconds)
            return self._live_catalog.get()
        except (CatalogError, OSError, sa.exc.SQLAlchemyError) as error:
            logger.warning("Catalog unavailable, its public contacts will be masked in logs: %s", error)
            return None

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Store the new events of a conversation, masked, off the event loop, retrying a locked database."""
        await self.stream_events(tracker)
        await asyncio.to_thread(self._save_with_retry, tracker)

    def _save_with_retry(self, tracker: DialogueStateTracker) -> None:
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                self._save_masked(tracker)
                return
            except sa.exc.OperationalError as error:
                if attempt == SAVE_ATTEMPTS:
                    logger.critical("Conversation %s could not be stored: %s", tracker.sender_id, error)
                    raise
                logger.warning("Conversation store busy (attempt %d/%d): %s", attempt, SAVE_ATTEMPTS, error)
                time.sleep(0.1 * 2**attempt)

    def _save_masked(self, tracker: DialogueStateTracker) -> None:
        sender = {"sender_id": tracker.sender_id}
        with self.engine.begin() as connection:
            stored = getattr(tracker, STORED_ATTRIBUTE, None)
            if stored is None:  # a tracker this store did not read (a new conversation): ask the database
                stored = connection.execute(self._sql.stored_in_last_session, sender).scalar_one()
            events = masked_events(itertools.islice(tracker.events, stored, None), self.public_contacts())
            if conversation_erased(events):  # « supprimer mes données »: nothing of this conversation stays
                connection.execute(self._sql.delete, sender)
                _remember_stored(tracker, len(tracker.events))  # and nothing before this point is stored again
                return
            if events:
                connection.execute(
                    self._sql.insert,
                    [
                        {
                            "sender_id": tracker.sender_id,
                            "type_name": data["event"],
                            "timestamp": data.get("timestamp"),
                            "intent_name": (data.get("parse_data") or {}).get("intent", {}).get(INTENT_NAME_KEY),
                            "action_name": data.get("name"),
                            "data": json.dumps(data),
                        }
                        for data in events
                    ],
                )
        _remember_stored(tracker, len(tracker.events))


def public_contacts(domain: Domain | None, catalog_contacts: frozenset[str] = frozenset()) -> frozenset[str]:
    """The phone numbers and e-mails the town itself publishes (responses, catalog): the bot's text keeps them."""
    responses = domain.responses.values() if domain else []
    texts = [variant.get("text") or "" for variants in responses for variant in variants]
    return frozenset(m.value for text in texts for m in find_personal_data(text)) | catalog_contacts


def masked_events(events: Iterable[Any], keep: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """The events as stored: dicts with phone numbers, e-mails, IBANs, NIRs and card numbers masked."""
    return [mask_event(event.as_dict(), keep=keep) for event in events]
