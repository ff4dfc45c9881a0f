"""The conversation lock store: Rasa's Redis lock store on REDIS_URL, in memory when REDIS_URL is unset.

Configured in endpoints.yml as `type: bot.runtime.stores.lock_store.GuichetLockStore`. Rasa processes one message of
a conversation at a time by taking a ticket lock on it; with several rasa servers (or Sanic workers, RASA_WORKERS)
that lock must live in Redis so that every process sees it. The in-memory lock is only safe for a single process, so
it refuses to start when several workers are asked for.

Two changes to Rasa 3.6's Redis lock store, both about several processes: each change of a lock is one atomic Redis
transaction (Rasa reads, changes and writes the lock in separate steps, so two processes can issue the same ticket,
or one can delete a lock another has just joined), and a busy lock is re-checked every LOCK_POLL_SECONDS instead of
every second.

And one change to how a message waits for the one before it: Rasa only polls (sleeps, then reads the lock again).
The web chat sends its answer before the turn is saved, so a citizen's next message, or the next button, often
arrives while the previous one still holds the lock; polling made it wait up to a whole poll period after the
release. A message released in this process now wakes the
messages waiting for the same conversation at once; a release in another process (another worker, another machine)
is still seen by the poll.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import (
    DEFAULT_SOCKET_TIMEOUT_IN_SECONDS,
    LOCK_LIFETIME,
    InMemoryLockStore,
    LockError,
    LockStore,
    RedisLockStore,
)
from rasa.utils.endpoints import EndpointConfig

from bot.settings import get_settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "guichet"
# Rasa checks a busy conversation's lock again every second; a citizen who sends two messages in a row (or the
# web chat, whose answer arrives before the conversation is saved) would wait up to a second for nothing.
LOCK_POLL_SECONDS = 0.02
# A lock whose process died mid-message is never cleaned up by Rasa; its tickets expire after LOCK_LIFETIME, and the
# key itself goes after this long.
LOCK_KEY_TTL_SECONDS = 3600

T = TypeVar("T")
Change = Callable[[TicketLock | None], tuple[TicketLock | None, T]]


class LockStoreMisconfigured(RuntimeError):
    """Several rasa workers were asked for without a shared (Redis) lock store."""


class UrlRedisLockStore(RedisLockStore):
    """Rasa's Redis lock store, connected from a URL, whose every change of a lock is one atomic transaction."""

    def __init__(
        self, url: str, key_prefix: str = KEY_PREFIX, socket_timeout: float = DEFAULT_SOCKET_TIMEOUT_IN_SECONDS
    ) -> None:
        import redis

        # Not RedisLockStore.__init__: it takes host/port/db apart, we keep the URL whole (TLS, password, db).
        self.red = redis.StrictRedis.from_url(url, socket_timeout=socket_timeout)
        self.key_prefix = f"{key_prefix}:lock:"
        LockStore.__init__(self)

    def _change(self, conversation_id: str, change: Change[T]) -> T:
        """Read, change and write (or delete) a conversation's lock in one WATCH/MULTI transaction."""
        import redis

        key = self.key_prefix + conversation_id
        with self.red.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    lock, result = change(TicketLock.from_dict(json.loads(raw)) if raw else None)
                    pipe.multi()
                    if lock is None:
                        pipe.delete(key)
                    else:
                        pipe.set(key, lock.dumps(), ex=LOCK_KEY_TTL_SECONDS)
                    pipe.execute()
                    return result
                except redis.WatchError:  # another process changed this lock meanwhile: start again
                    continue

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Issue the next ticket of a conversation (creating its lock if needed)."""

        def change(lock: TicketLock | None) -> tuple[TicketLock | None, int]:
            lock = lock or self.create_lock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        try:
            return self._change(conversation_id, change)
        except Exception as error:  # Rasa's contract: any failure to take the lock is a LockError
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def update_lock(self, conversation_id: str) -> None:
        """Drop the expired tickets of a conversation's lock."""

        def change(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is not None:
                lock.remove_expired_tickets()
            return lock, None

        self._change(conversation_id, change)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        """Remove a served ticket from a conversation's lock."""

        def change(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is not None:
                lock.remove_ticket_for(ticket_number)
            return lock, None

        self._change(conversation_id, change)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Remove a served ticket, and the whole lock when nobody else waits for it."""

        def change(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is None:
                return None, None
            lock.remove_ticket_for(ticket_number)
            return (lock if lock.is_someone_waiting() else None), None

        self._change(conversation_id, change)


class _Release:
    """What the messages waiting for a conversation in this process wait on, and how many they are."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.waiters = 0


class GuichetLockStore(LockStore):
    """Redis locks when REDIS_URL is set (several rasa processes), otherwise in-memory locks (one process)."""

    def __init__(
        self, endpoint_config: EndpointConfig | None = None, redis_url: str | None = None, **kwargs: Any
    ) -> None:
        options = dict(endpoint_config.kwargs) if endpoint_config else {}
        url = redis_url or (endpoint_config.url if endpoint_config else None) or get_settings().redis_url
        self.backend: LockStore
        if url:
            redis_store = UrlRedisLockStore(url, key_prefix=str(options.get("key_prefix") or KEY_PREFIX))
            redis_store.red.ping()  # fail at start-up, not on the first citizen's message
            self.backend = redis_store
            logger.info("Conversation locks in Redis (%s).", url.split("@")[-1])
        else:
            workers = int(os.environ.get("SANIC_WORKERS", "1") or 1)
            if workers > 1:
                raise LockStoreMisconfigured(
                    f"SANIC_WORKERS={workers} needs REDIS_URL: in-memory locks are not shared between processes."
                )
            self.backend = InMemoryLockStore()
        # Per conversation, the release that the messages of this process waiting for it are woken by.
        self._releases: dict[str, _Release] = {}
        super().__init__()

    def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = LOCK_POLL_SECONDS,
    ) -> AbstractAsyncContextManager[TicketLock]:
        """Rasa's ticket lock on a conversation; a release wakes this process's waiters, others poll."""
        return super().lock(conversation_id, lock_lifetime, wait_time_in_seconds)

    async def _acquire_lock(self, conversation_id: str, ticket: int, wait_time_in_seconds: float) -> TicketLock:
        """Rasa's loop (serve the ticket when its turn comes), waiting for a release instead of only sleeping."""
        while True:
            lock = self.get_lock(conversation_id)
            if not lock:  # the lock expired (its process died): Rasa's answer
                raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
            if not lock.is_locked(ticket):
                return lock
            await self._wait_for_release(conversation_id, wait_time_in_seconds)
            self.update_lock(conversation_id)

    async def _wait_for_release(self, conversation_id: str, timeout: float) -> None:
        """Until a message of this conversation is released in this process, or `timeout` seconds at most."""
        release = self._releases.get(conversation_id)
        if release is None:
            release = self._releases[conversation_id] = _Release()
        release.waiters += 1
        try:
            await asyncio.wait_for(release.event.wait(), timeout)
        except asyncio.TimeoutError:
            pass  # released in another process, or still busy: read the lock again
        finally:
            release.waiters -= 1
            if not release.waiters and self._releases.get(conversation_id) is release:
                del self._releases[conversation_id]  # nobody waits here any more: nothing kept per conversation

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Issue the next ticket of a conversation."""
        return self.backend.issue_ticket(conversation_id, lock_lifetime)

    def update_lock(self, conversation_id: str) -> None:
        """Drop the expired tickets of a conversation's lock."""
        self.backend.update_lock(conversation_id)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        """Remove a served ticket."""
        self.backend.finish_serving(conversation_id, ticket_number)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Remove a served ticket (Rasa's release of the lock), then wake this process's waiters at once."""
        self.backend.cleanup(conversation_id, ticket_number)
        release = self._releases.pop(conversation_id, None)
        if release is not None:
            release.event.set()

    def get_lock(self, conversation_id: str) -> TicketLock | None:
        """The lock of a conversation, if any."""
        return self.backend.get_lock(conversation_id)

    def delete_lock(self, conversation_id: str) -> None:
        """Forget the lock of a conversation."""
        self.backend.delete_lock(conversation_id)

    def save_lock(self, lock: TicketLock) -> None:
        """Store a conversation's lock."""
        self.backend.save_lock(lock)
