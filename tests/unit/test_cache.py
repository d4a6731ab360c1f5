"""The cache on its own: the in-process TTL cache, and Redis (a real server, through the
worker's shared Redis layer) failing open."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from bridge.cache import MemoryCache, RedisCache, build_cache
from bridge.redis import SharedRedis, redis_client
from bridge.settings.storage import RedisSettings
from tests.support.redis_server import RedisServer, unique_prefix


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def redis_settings(url: str, **knobs: float) -> RedisSettings:
    return RedisSettings(url=url, key_prefix=unique_prefix(), **knobs)


def shared(url: str, **knobs: float) -> SharedRedis:
    return SharedRedis.from_settings(redis_settings(url, **knobs))


@pytest.fixture
async def direct(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A plain client for looking behind the cache's back."""
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[SharedRedis]:
    layer = shared(redis_server.url)
    yield layer
    await layer.close()


@pytest.fixture
def cache(redis: SharedRedis) -> RedisCache:
    built = build_cache(redis, prefix=redis.prefix, max_entries=10)
    assert isinstance(built, RedisCache)
    return built


# --- keys ------------------------------------------------------------------------------------


def test_keys_are_namespaced_versioned_and_hash_the_id() -> None:
    cache = MemoryCache(prefix="bridge")
    ident = "9855790.xjj3ukxyIhn6j3"
    digest = hashlib.sha256(ident.encode()).hexdigest()
    assert cache.key("visitor", ident) == f"bridge:v1:visitor:{digest}"
    assert cache.lock_key("visitor", ident) == f"bridge:v1:lock:visitor:{digest}"
    assert ident not in cache.key("visitor", ident)


def test_without_a_url_the_cache_is_in_process() -> None:
    assert isinstance(build_cache(None, prefix="bridge", max_entries=5), MemoryCache)


# --- in-process ------------------------------------------------------------------------------


async def test_memory_entry_expires_after_its_ttl() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock=clock)
    await cache.set("k", b"v", ttl=10)
    clock.now += 9.9
    assert await cache.get("k") == b"v"
    clock.now += 0.1
    assert await cache.get("k") is None
    assert len(cache) == 0


async def test_a_read_refreshes_recency_but_never_outlives_the_ttl() -> None:
    clock = FakeClock()
    cache = MemoryCache(clock=clock, max_entries=2)
    await cache.set("a", b"1", ttl=10)
    await cache.set("b", b"2", ttl=60)
    assert await cache.get("a") == b"1"  # a is now the most recently used
    await cache.set("c", b"3", ttl=60)
    assert await cache.get("b") is None
    clock.now += 10
    assert await cache.get("a") is None  # expired
    assert await cache.get("c") == b"3"


async def test_memory_cache_is_bounded_and_evicts_least_recently_used() -> None:
    cache = MemoryCache(max_entries=2)
    await cache.set("a", b"1", ttl=60)
    await cache.set("b", b"2", ttl=60)
    assert await cache.get("a") == b"1"  # a is now the most recently used
    await cache.set("c", b"3", ttl=60)
    assert len(cache) == 2
    assert await cache.get("b") is None
    assert await cache.get("a") == b"1"


async def test_memory_lock_is_always_granted_and_never_needs_release() -> None:
    cache = MemoryCache()
    lock = await cache.acquire("l", ttl=1)
    assert lock is not None
    assert lock.token is None


# --- Redis, up ---------------------------------------------------------------------------


async def test_redis_round_trip_sets_the_ttl(cache: RedisCache, direct: aioredis.Redis) -> None:
    key = cache.key("visitor", "abc")
    assert await cache.get(key) is None
    await cache.set(key, b"value", ttl=30)
    assert await cache.get(key) == b"value"
    ttl_ms = await direct.pttl(key)
    assert 29_000 < ttl_ms <= 30_000


async def test_redis_lock_is_exclusive_until_released(cache: RedisCache) -> None:
    key = cache.lock_key("visitor", "abc")
    first = await cache.acquire(key, ttl=5)
    assert first is not None
    assert first.token is not None
    assert await cache.acquire(key, ttl=5) is None
    await cache.release(first)
    again = await cache.acquire(key, ttl=5)
    assert again is not None
    await cache.release(again)


async def test_redis_lock_expires_on_its_own(cache: RedisCache) -> None:
    key = cache.lock_key("visitor", "abc")
    assert await cache.acquire(key, ttl=0.05) is not None
    await asyncio.sleep(0.1)
    lock = await cache.acquire(key, ttl=5)
    assert lock is not None
    await cache.release(lock)


async def test_release_never_deletes_a_lock_taken_over_by_another_holder(
    cache: RedisCache, direct: aioredis.Redis
) -> None:
    key = cache.lock_key("visitor", "abc")
    stale = await cache.acquire(key, ttl=0.05)
    assert stale is not None
    await asyncio.sleep(0.1)  # expired: someone else takes it
    current = await cache.acquire(key, ttl=5)
    assert current is not None
    await cache.release(stale)
    assert await direct.get(key) == (current.token or "").encode()
    await cache.release(current)
    assert await direct.exists(key) == 0


async def test_ping_is_true_while_redis_answers(redis: SharedRedis) -> None:
    assert await redis.ping()


# --- Redis, down -------------------------------------------------------------------------


async def test_killed_redis_fails_open_and_ping_says_so(killable_redis: RedisServer) -> None:
    redis = shared(killable_redis.url, breaker_cooldown=0.2)
    cache = RedisCache(redis)
    try:
        await cache.set("k", b"v", ttl=30)
        assert await cache.get("k") == b"v"
        killable_redis.kill()

        assert await cache.get("k") is None
        await cache.set("k", b"w", ttl=30)  # no exception
        lock = await cache.acquire("l", ttl=1)
        assert lock is not None  # proceed alone
        assert lock.token is None
        await cache.release(lock)
        assert not await redis.ping()
        assert redis.down
    finally:
        await redis.close()


async def test_redis_is_used_again_after_it_restarts(killable_redis: RedisServer) -> None:
    redis = shared(killable_redis.url, breaker_cooldown=0.1)
    cache = RedisCache(redis)
    try:
        killable_redis.kill()
        assert await cache.get("k") is None
        assert not await redis.ping()
        killable_redis.start()
        await asyncio.sleep(0.15)  # past the cooldown
        await cache.set("k", b"back", ttl=30)
        assert await cache.get("k") == b"back"
        assert await redis.ping()
        assert not redis.down
    finally:
        await redis.close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections (into the backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


async def test_a_silent_redis_costs_one_short_timeout_then_is_skipped(silent_port: int) -> None:
    clock = FakeClock()
    settings = RedisSettings(
        url=f"redis://127.0.0.1:{silent_port}/0", socket_timeout=0.2, breaker_cooldown=5
    )
    redis = SharedRedis(redis_client(settings), breaker_cooldown=5, op_timeout=2, clock=clock)
    cache = RedisCache(redis)
    try:
        started = time.perf_counter()
        assert await cache.get("k") is None
        first = time.perf_counter() - started
        assert first < 1.5  # the socket timeout, not the OS default

        started = time.perf_counter()
        assert await cache.get("k") is None
        assert time.perf_counter() - started < 0.05  # the breaker skips Redis
        assert not redis.available

        clock.now += 5
        assert redis.available
    finally:
        await redis.close()
