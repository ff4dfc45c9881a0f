"""The conversation store: Rasa's SQL tracker store on DATABASE_URL (SQLite under var/ by default).

Configured in endpoints.yml as `type: bot.tracker_store.GuichetTrackerStore`. Unlike Rasa's defaults, a database
that cannot be reached at start-up stops the server with a clear error instead of retrying forever or falling back
to memory, which would silently lose conversations.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot.privacy import conversation_erased, find_personal_data, mask_event
from bot.settings import get_settings

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


class GuichetTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store on Guichet's database; personal data is masked before it is stored."""

    _keep: tuple[int, frozenset[str]] | None = None  # (id of the domain, the public contacts it publishes)
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

    def _keep_sqlite_connections_open(self, url: str) -> None:
        """Pool SQLite connections: SQLAlchemy 1.4 opens and closes one per session on a file (NullPool)."""
        self.engine.dispose()
        self.engine = sa.create_engine(
            url, poolclass=sa.pool.QueuePool, connect_args={"check_same_thread": False, "timeout": 30}
        )
        self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool) -> DialogueStateTracker | None:
        """Read a conversation off the event loop (Rasa queries on it), then rebuild its tracker."""
        events = await asyncio.to_thread(self._load_events, sender_id, fetch_events_from_all_sessions)
        if not self.domain or not events:
            return None
        return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)

    def _load_events(self, sender_id: str, fetch_events_from_all_sessions: bool) -> list[dict[str, Any]]:
        with self.session_scope() as session:
            query = self._event_query(session, sender_id, fetch_events_from_all_sessions=fetch_events_from_all_sessions)
            return [json.loads(row.data) for row in query.all()]

    def public_contacts(self) -> frozenset[str]:
        """The public contacts of the current domain and of the town's catalog, computed once per domain."""
        if self._keep is None or self._keep[0] != id(self.domain):
            from bot.catalog import CatalogError, load_catalog

            try:
                catalog_contacts = load_catalog().public_contacts()
            except (CatalogError, OSError) as error:
                logger.warning("Catalog unavailable, its public contacts will be masked in logs: %s", error)
                catalog_contacts = frozenset()
            self._keep = (id(self.domain), public_contacts(self.domain, catalog_contacts))
        return self._keep[1]

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
        with self.session_scope() as session:
            events = masked_events(self._additional_events(session, tracker), self.public_contacts())
            if conversation_erased(events):  # « supprimer mes données »: nothing of this conversation stays
                session.query(self.SQLEvent).filter(self.SQLEvent.sender_id == tracker.sender_id).delete()
                events = []
            for data in events:
                session.add(
                    self.SQLEvent(
                        sender_id=tracker.sender_id,
                        type_name=data["event"],
                        timestamp=data.get("timestamp"),
                        intent_name=(data.get("parse_data") or {}).get("intent", {}).get(INTENT_NAME_KEY),
                        action_name=data.get("name"),
                        data=json.dumps(data),
                    )
                )
            session.commit()


def public_contacts(domain: Domain | None, catalog_contacts: frozenset[str] = frozenset()) -> frozenset[str]:
    """The phone numbers and e-mails the town itself publishes (responses, catalog): the bot's text keeps them."""
    responses = domain.responses.values() if domain else []
    texts = [variant.get("text") or "" for variants in responses for variant in variants]
    return frozenset(m.value for text in texts for m in find_personal_data(text)) | catalog_contacts


def masked_events(events: Iterable[Any], keep: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """The events as stored: dicts with phone numbers, e-mails, IBANs, NIRs and card numbers masked."""
    return [mask_event(event.as_dict(), keep=keep) for event in events]
