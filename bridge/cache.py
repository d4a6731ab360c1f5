"""The lookup cache: Redis when ``redis.url`` is set, a bounded in-process TTL cache otherwise.

Both speak bytes under string keys built by :meth:`Cache.key`
(``{prefix}:v1:{kind}:{sha256(id)}``: namespaced, versioned, and the id itself never stored
in a key). What the bytes mean is the caller's business; a value the caller cannot decode is
simply a miss.

Caches fail **open**: every Redis error, timeout or refused connection is logged once, makes
the operation a miss (or a no-op), and trips a local breaker that skips Redis entirely for
``breaker_cooldown`` seconds, so a dead Redis costs one short timeout per cooldown rather than
one per request. Nothing here ever raises to a handler; :meth:`Cache.ping` is the one place
that reports Redis being down (for ``/readyz``), and a successful ping closes the breaker.

Cross-process single flight uses a short lock, ``SET {prefix}:v1:lock:{kind}:{hash} token
NX PX ttl``, released with a compare-and-delete script so a holder whose lock expired never
deletes someone else's. :meth:`Cache.acquire` answers:

* a :class:`Lock` with a token: held in Redis, release it with :meth:`Cache.release`;
* a :class:`Lock` without a token: there is nothing to hold (in-process cache, or Redis is
  unavailable) and the caller proceeds on its own;
* ``None``: another process holds it; wait for its result by polling :meth:`Cache.get`.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff

from bridge.metrics import Metrics
from bridge.settings import RedisSettings, split_host_port

log = logging.getLogger("bridge.cache")

T = TypeVar("T")

#: version of the key layout and of the stored values; bump to orphan every old entry
KEY_VERSION = "v1"

_RELEASE_SCRIPT = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""


def hash_id(ident: str) -> str:
    return hashlib.sha256(ident.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Lock:
    key: str
    #: the value set in Redis; None when no Redis lock is held (nothing to release)
    token: str | None


class Cache(abc.ABC):
    """Bytes by key with a TTL, plus a best-effort cross-process lock. Never raises."""

    #: entries live in this process: :meth:`peek` answers without a coroutine
    local: bool = False

    def __init__(self, *, prefix: str) -> None:
        self.prefix = prefix

    def peek(self, key: str) -> bytes | None:
        """:meth:`get` for a :attr:`local` cache, without awaiting anything."""
        raise NotImplementedError("only a local cache can be read without awaiting")

    def key(self, kind: str, ident: str) -> str:
        return f"{self.prefix}:{KEY_VERSION}:{kind}:{hash_id(ident)}"

    def lock_key(self, kind: str, ident: str) -> str:
        return f"{self.prefix}:{KEY_VERSION}:lock:{kind}:{hash_id(ident)}"

    @abc.abstractmethod
    async def get(self, key: str) -> bytes | None: ...

    @abc.abstractmethod
    async def set(self, key: str, value: bytes, ttl: float) -> None: ...

    @abc.abstractmethod
    async def delete(self, key: str) -> None: ...

    @abc.abstractmethod
    async def acquire(self, key: str, ttl: float) -> Lock | None: ...

    @abc.abstractmethod
    async def release(self, lock: Lock) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> bool:
        """True when the cache can be used (always, for the in-process cache)."""

    async def close(self) -> None:  # noqa: B027 - an optional hook
        """Release connections; the in-process cache has none."""


class MemoryCache(Cache):
    """A bounded LRU with per-entry expiry, for one process (the embedded default)."""

    def __init__(
        self,
        *,
        prefix: str = "bridge",
        max_entries: int = 10000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(prefix=prefix)
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    local = True

    def peek(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if self._clock() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def get(self, key: str) -> bytes | None:
        return self.peek(key)

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        now = self._clock()
        self._entries[key] = (now + ttl, value)
        self._entries.move_to_end(key)
        if len(self._entries) > self._max_entries:
            # drop what has expired first, then the least recently used
            for stale in [k for k, (exp, _) in self._entries.items() if exp <= now]:
                del self._entries[stale]
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    async def acquire(self, key: str, ttl: float) -> Lock | None:
        # one process: the caller's in-process single flight is the whole story
        return Lock(key, None)

    async def release(self, lock: Lock) -> None:
        return None

    async def ping(self) -> bool:
        return True


class _Failed:
    """Marker for an operation that did not reach Redis."""


_FAILED = _Failed()


class RedisCache(Cache):
    """Redis through ``redis.asyncio``, failing open behind a local breaker.

    ``client`` should be built with short socket timeouts and no retries
    (:func:`redis_client` does that); ``op_timeout`` is a last-resort bound on any one
    operation, pool waits included.
    """

    def __init__(
        self,
        client: aioredis.Redis | RedisCluster,
        *,
        prefix: str = "bridge",
        breaker_cooldown: float = 3.0,
        op_timeout: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(prefix=prefix)
        self._client = client
        self._cooldown = breaker_cooldown
        self._op_timeout = op_timeout
        self._clock = clock
        self._metrics = metrics
        self._skip_until = 0.0
        #: None until the first operation says whether Redis answers
        self._down: bool | None = None

    @property
    def available(self) -> bool:
        """False while the breaker skips Redis after a failure."""
        return self._clock() >= self._skip_until

    def _failed(self, operation: str, exc: BaseException) -> None:
        self._skip_until = self._clock() + self._cooldown
        if not self._down:
            # once per outage, not once per request; never the key (it names a lookup)
            log.warning(
                "redis %s failed (%s); skipping Redis for %.1fs",
                operation,
                type(exc).__name__,
                self._cooldown,
            )
            if self._metrics is not None:
                self._metrics.redis_available(False)
        self._down = True

    def _succeeded(self) -> None:
        if self._down is not False:
            if self._down:
                log.info("redis is reachable again")
            if self._metrics is not None:
                self._metrics.redis_available(True)
        self._down = False
        self._skip_until = 0.0

    async def _run(self, operation: str, call: Callable[[], Awaitable[T]]) -> T | _Failed:
        if not self.available:
            return _FAILED
        try:
            async with asyncio.timeout(self._op_timeout):
                result = await call()
        except Exception as exc:  # fail open: no Redis problem may reach a handler
            self._failed(operation, exc)
            return _FAILED
        self._succeeded()
        return result

    async def get(self, key: str) -> bytes | None:
        result = await self._run("get", lambda: self._client.get(key))
        if isinstance(result, bytes):
            return result
        return None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        millis = max(1, int(ttl * 1000))
        await self._run("set", lambda: self._client.set(key, value, px=millis))

    async def delete(self, key: str) -> None:
        await self._run("delete", lambda: self._client.delete(key))

    async def acquire(self, key: str, ttl: float) -> Lock | None:
        token = secrets.token_hex(16)
        millis = max(1, int(ttl * 1000))
        result = await self._run("lock", lambda: self._client.set(key, token, nx=True, px=millis))
        if isinstance(result, _Failed):
            return Lock(key, None)  # Redis unavailable: go ahead alone
        return Lock(key, token) if result else None

    async def release(self, lock: Lock) -> None:
        if lock.token is None:
            return
        token = lock.token
        await self._run(
            "unlock",
            lambda: self._client.eval(_RELEASE_SCRIPT, 1, lock.key, token),
        )

    async def ping(self) -> bool:
        """Really asks Redis, breaker or not; a success closes the breaker.

        With Sentinel it first asks the sentinels who the master is, which drops idle
        connections to a former master: a planned failover leaves the old master writable
        until the sentinels demote it, and pooled connections would keep writing there (lost
        entries). Readiness probes call this every few seconds, which bounds that window.
        """
        pool = getattr(self._client, "connection_pool", None)
        try:
            async with asyncio.timeout(self._op_timeout):
                if isinstance(pool, SentinelConnectionPool):
                    await pool.get_master_address()  # type: ignore[no-untyped-call]
                await self._client.ping()
        except Exception as exc:
            self._failed("ping", exc)
            return False
        self._succeeded()
        return True

    async def close(self) -> None:
        await self._client.aclose()
        # Sentinel mode: the clients that talk to the sentinels themselves
        manager = getattr(getattr(self._client, "connection_pool", None), "sentinel_manager", None)
        for sentinel in getattr(manager, "sentinels", ()):
            await sentinel.aclose()


def redis_client(settings: RedisSettings) -> aioredis.Redis | RedisCluster:
    """A client for the configured topology, with short timeouts and no retries of its own
    (the cache fails open instead). Does no I/O.

    * ``url``: one server (``redis://``, ``rediss://`` or ``unix://``);
    * ``sentinel``: asks the sentinels for the current master of ``sentinel.master`` and
      asks again whenever a connection breaks or the old master has become a replica, so a
      failover costs the requests in flight during it and nothing after;
    * ``cluster``: discovers the slots from ``cluster.nodes`` and follows MOVED/ASK.
    """
    common: dict[str, Any] = {
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 0,
    }
    if settings.username is not None:
        common["username"] = settings.username
    if settings.password is not None:
        common["password"] = settings.password.secret.reveal().decode()
    if settings.sentinel is not None:
        sentinel = settings.sentinel
        sentinel_kwargs: dict[str, Any] = {
            "socket_timeout": settings.socket_timeout,
            "socket_connect_timeout": settings.connect_timeout,
        }
        if sentinel.password is not None:
            sentinel_kwargs["password"] = sentinel.password.secret.reveal().decode()
        if settings.tls:
            common["ssl"] = sentinel_kwargs["ssl"] = True
        manager = Sentinel(  # type: ignore[no-untyped-call]
            [split_host_port(address) for address in sentinel.addresses],
            sentinel_kwargs=sentinel_kwargs,
            **common,
        )
        master: aioredis.Redis = manager.master_for(sentinel.master, db=sentinel.db)
        return master
    if settings.cluster is not None:
        if settings.tls:
            common["ssl"] = True
        nodes = [ClusterNode(*split_host_port(address)) for address in settings.cluster.nodes]
        return RedisCluster(
            startup_nodes=nodes, require_full_coverage=False,
            **common,
        )  # fmt: skip
    assert settings.url is not None
    return aioredis.Redis.from_url(settings.url, **common)


def build_cache(
    redis_settings: RedisSettings,
    *,
    max_entries: int,
    clock: Callable[[], float] = time.monotonic,
    metrics: Metrics | None = None,
) -> Cache:
    """Redis when one is configured, else the in-process cache. Does no I/O."""
    if redis_settings.mode == "memory":
        return MemoryCache(prefix=redis_settings.key_prefix, max_entries=max_entries, clock=clock)
    return RedisCache(
        redis_client(redis_settings),
        prefix=redis_settings.key_prefix,
        breaker_cooldown=redis_settings.breaker_cooldown,
        op_timeout=redis_settings.socket_timeout + redis_settings.connect_timeout + 0.2,
        clock=clock,
        metrics=metrics,
    )
