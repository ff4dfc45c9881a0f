"""Conversation locks: Redis when REDIS_URL is set, memory otherwise, never memory with several workers."""

from __future__ import annotations

import asyncio
import time

import pytest
from rasa.core.lock_store import InMemoryLockStore, LockStore
from rasa.utils.endpoints import EndpointConfig

from bot.runtime.stores import lock_store
from bot.runtime.stores.lock_store import GuichetLockStore, LockStoreMisconfigured, UrlRedisLockStore


class FakeRedis:
    """Just what the Redis lock store calls: GET/SET/DELETE and WATCH/MULTI/EXEC pipelines."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.versions: dict[str, int] = {}

    def ping(self) -> bool:
        return True

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def set(self, key: str, value: str, ex: int | None = None) -> None:
        self.data[key] = value.encode()
        self.versions[key] = self.versions.get(key, 0) + 1

    def delete(self, key: str) -> int:
        self.versions[key] = self.versions.get(key, 0) + 1
        return 1 if self.data.pop(key, None) is not None else 0

    def pipeline(self) -> FakePipeline:
        return FakePipeline(self)


class FakePipeline:
    """A WATCH/MULTI/EXEC transaction that fails (WatchError) if the watched key changed meanwhile."""

    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis
        self.watched: tuple[str, int] | None = None
        self.queued: list[tuple[str, tuple]] = []

    def __enter__(self) -> FakePipeline:
        return self

    def __exit__(self, *_: object) -> None:
        self.watched, self.queued = None, []

    def watch(self, key: str) -> None:
        self.watched, self.queued = (key, self.redis.versions.get(key, 0)), []

    def get(self, key: str) -> bytes | None:
        return self.redis.get(key)

    def multi(self) -> None:
        self.queued = []

    def set(self, key: str, value: str, ex: int | None = None) -> None:
        assert ex is not None  # every lock key expires, even if its process dies mid-message
        self.queued.append(("set", (key, value)))

    def delete(self, key: str) -> None:
        self.queued.append(("delete", (key,)))

    def execute(self) -> None:
        import redis

        key, version = self.watched or ("", 0)
        if self.redis.versions.get(key, 0) != version:
            raise redis.WatchError("watched key changed")
        for name, args in self.queued:
            getattr(self.redis, name)(*args)


@pytest.fixture
def fake_redis(monkeypatch: pytest.MonkeyPatch) -> FakeRedis:
    fake = FakeRedis()
    monkeypatch.setattr("redis.StrictRedis.from_url", lambda url, **_: fake)
    return fake


@pytest.fixture(autouse=True)
def no_redis_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lock_store, "get_settings", lambda: type("S", (), {"redis_url": None})())
    monkeypatch.delenv("SANIC_WORKERS", raising=False)


def test_without_redis_one_process_keeps_its_locks_in_memory() -> None:
    store = GuichetLockStore(EndpointConfig(type="bot.runtime.stores.lock_store.GuichetLockStore"))
    assert isinstance(store.backend, InMemoryLockStore)


def test_several_workers_without_redis_refuse_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANIC_WORKERS", "2")
    with pytest.raises(LockStoreMisconfigured, match="REDIS_URL"):
        GuichetLockStore()


async def test_with_redis_a_conversation_lock_is_stored_under_guichets_prefix(fake_redis: FakeRedis) -> None:
    store = GuichetLockStore(redis_url="redis://127.0.0.1:6379/0")
    assert isinstance(store.backend, UrlRedisLockStore)

    async with store.lock("citizen-1"):
        assert list(fake_redis.data) == ["guichet:lock:citizen-1"]
        assert store.is_someone_waiting("citizen-1")

    assert fake_redis.data == {}  # released and cleaned up


def test_rasa_allows_several_workers_with_this_lock_store() -> None:
    from rasa.core.utils import _lock_store_is_multi_worker_compatible

    endpoint = EndpointConfig(type="bot.runtime.stores.lock_store.GuichetLockStore")
    assert _lock_store_is_multi_worker_compatible(endpoint)
    assert isinstance(LockStore.create(endpoint), GuichetLockStore)


async def test_a_second_message_waits_for_the_first_one_only_as_long_as_it_takes() -> None:
    store = GuichetLockStore()
    order: list[str] = []

    async def handle(name: str, seconds: float) -> float:
        started = time.perf_counter()
        async with store.lock("citizen-2"):
            order.append(name)
            await asyncio.sleep(seconds)
        return time.perf_counter() - started

    first = asyncio.create_task(handle("first", 0.05))
    await asyncio.sleep(0.005)
    second_took = await handle("second", 0.0)
    await first

    assert order == ["first", "second"]
    assert second_took < 0.5  # Rasa's default re-checks only after a whole second


def test_a_ticket_taken_by_another_process_meanwhile_is_never_issued_twice(fake_redis: FakeRedis) -> None:
    store = UrlRedisLockStore("redis://127.0.0.1:6379/0")
    other = UrlRedisLockStore("redis://127.0.0.1:6379/0")
    real_get = fake_redis.get
    raced = False

    def get_then_another_process_takes_a_ticket(key: str) -> bytes | None:
        nonlocal raced
        value = real_get(key)
        if not raced:  # between our read and our write, the other process issues a ticket
            raced = True
            fake_redis.get = real_get  # type: ignore[method-assign]
            other.issue_ticket("citizen-3")
        return value

    fake_redis.get = get_then_another_process_takes_a_ticket  # type: ignore[method-assign]
    mine = store.issue_ticket("citizen-3")

    lock = store.get_lock("citizen-3")
    assert lock is not None and mine == 1 and lock.last_issued == 1  # the other one got ticket 0


async def test_a_release_in_this_process_wakes_the_waiting_message_without_waiting_for_the_poll() -> None:
    store = GuichetLockStore()
    released_at: list[float] = []
    acquired_at: list[float] = []

    async def first() -> None:
        async with store.lock("citizen-4"):
            await asyncio.sleep(0.05)
        released_at.append(time.perf_counter())

    async def second() -> None:
        async with store.lock("citizen-4", wait_time_in_seconds=30.0):  # polling alone would wait 30 s
            acquired_at.append(time.perf_counter())

    holder = asyncio.create_task(first())
    await asyncio.sleep(0.005)
    await asyncio.wait_for(second(), timeout=5.0)
    await holder

    assert acquired_at[0] - released_at[0] < 1.0
    assert store._releases == {}  # nothing is kept per conversation once nobody waits


async def test_messages_waiting_for_one_conversation_are_served_in_arrival_order() -> None:
    store = GuichetLockStore()
    order: list[int] = []

    async def handle(number: int) -> None:
        async with store.lock("citizen-5", wait_time_in_seconds=30.0):
            order.append(number)
            await asyncio.sleep(0.01)

    tasks = []
    for number in range(4):
        tasks.append(asyncio.create_task(handle(number)))
        await asyncio.sleep(0.002)  # they arrive in this order
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=5.0)

    assert order == [0, 1, 2, 3]
    assert store._releases == {}


async def test_a_release_in_another_process_is_still_seen_by_the_poll(fake_redis: FakeRedis) -> None:
    here = GuichetLockStore(redis_url="redis://127.0.0.1:6379/0")  # two processes share only Redis
    other_process = GuichetLockStore(redis_url="redis://127.0.0.1:6379/0")
    entered = asyncio.Event()
    leave = asyncio.Event()

    async def held_elsewhere() -> None:
        async with other_process.lock("citizen-6"):
            entered.set()
            await leave.wait()

    holder = asyncio.create_task(held_elsewhere())
    await entered.wait()
    waiting = asyncio.create_task(_take(here, "citizen-6", poll=0.01))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # the other process still holds it
    leave.set()
    await holder

    assert await asyncio.wait_for(waiting, timeout=5.0) == "served"
    assert fake_redis.data == {}
    assert here._releases == {}


async def _take(store: GuichetLockStore, conversation_id: str, poll: float) -> str:
    async with store.lock(conversation_id, wait_time_in_seconds=poll):
        return "served"
