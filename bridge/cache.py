"""The lookup cache: Redis when one is configured, a bounded in-process TTL cache otherwise.

Both speak bytes under string keys built by :meth:`Cache.key`
(``{prefix}:v1:{kind}:{sha256(id)}``: namespaced, versioned, and the id itself never stored
in a key). What the bytes mean is the caller's business; a value the caller cannot decode is
simply a miss. Nothing here ever raises to a handler: the Redis cache goes through the worker's
:class:`~bridge.redis.SharedRedis`, which fails open.

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
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from bridge.redis import FAILED, KEY_VERSION, SharedRedis, hash_id

_RELEASE_SCRIPT = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class Lock:
    key: str
    #: the value set in Redis; None when no Redis lock is held (nothing to release)
    token: str | None


class Cache(abc.ABC):
    """Bytes by key with a TTL, plus a best-effort cross-process lock. Never raises."""

    def __init__(self, *, prefix: str) -> None:
        self.prefix = prefix

    def key(self, kind: str, ident: str) -> str:
        return f"{self.prefix}:{KEY_VERSION}:{kind}:{hash_id(ident)}"

    def lock_key(self, kind: str, ident: str) -> str:
        return f"{self.prefix}:{KEY_VERSION}:lock:{kind}:{hash_id(ident)}"

    @abc.abstractmethod
    async def get(self, key: str) -> bytes | None: ...

    @abc.abstractmethod
    async def set(self, key: str, value: bytes, ttl: float) -> None: ...

    @abc.abstractmethod
    async def acquire(self, key: str, ttl: float) -> Lock | None: ...

    @abc.abstractmethod
    async def release(self, lock: Lock) -> None: ...


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

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if self._clock() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

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

    async def acquire(self, key: str, ttl: float) -> Lock | None:
        # one process: the caller's in-process single flight is the whole story
        return Lock(key, None)

    async def release(self, lock: Lock) -> None:
        return None


class RedisCache(Cache):
    """Entries in Redis, shared by every replica, through the worker's :class:`SharedRedis`
    (failing open: an unreachable Redis is a miss, and a write that does not land is lost)."""

    def __init__(self, redis: SharedRedis) -> None:
        super().__init__(prefix=redis.prefix)
        self._redis = redis

    async def get(self, key: str) -> bytes | None:
        client = self._redis.client
        result = await self._redis.run("get", lambda: client.get(key))
        return result if isinstance(result, bytes) else None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        millis = max(1, int(ttl * 1000))
        client = self._redis.client
        await self._redis.run("set", lambda: client.set(key, value, px=millis))

    async def acquire(self, key: str, ttl: float) -> Lock | None:
        token = secrets.token_hex(16)
        millis = max(1, int(ttl * 1000))
        client = self._redis.client
        result = await self._redis.run("lock", lambda: client.set(key, token, nx=True, px=millis))
        if result is FAILED:
            return Lock(key, None)  # Redis unavailable: go ahead alone
        return Lock(key, token) if result else None

    async def release(self, lock: Lock) -> None:
        if lock.token is None:
            return
        token = lock.token
        client = self._redis.client
        await self._redis.run("unlock", lambda: client.eval(_RELEASE_SCRIPT, 1, lock.key, token))


def build_cache(
    redis: SharedRedis | None,
    *,
    prefix: str,
    max_entries: int,
    clock: Callable[[], float] = time.monotonic,
) -> Cache:
    """The worker's Redis when there is one, else the in-process cache. Does no I/O."""
    if redis is None:
        return MemoryCache(prefix=prefix, max_entries=max_entries, clock=clock)
    return RedisCache(redis)
