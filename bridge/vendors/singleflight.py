"""Single flight in front of a cache: one vendor call per id at a time, per process and fleet.

Cache-aside with versioned JSON entries (a value the parser rejects is a miss), positive and
negative TTLs, one vendor call per id per process (shared tasks) and, with Redis, per fleet (a
short lock others wait on by polling).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from bridge.cache import Cache
from bridge.errors import VendorBadResponse, VendorTimeout
from bridge.metrics import Metrics
from bridge.vendors.breaker import vendor_logger

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

_MISS: Any = object()


@dataclass(frozen=True)
class Found(Generic[T]):
    #: None: the vendor said "no such thing" (a negative entry)
    value: T | None
    #: ``cache``, or the vendor that was asked (``zendesk``, ``hubspot``)
    source: str


#: decoded cache entries kept per lookup kind (the same bytes decode to the same value)
DECODED_ENTRIES = 4096


class SingleFlight(Generic[T]):
    """Cache-aside for one kind of lookup, with one vendor call per id at a time.

    Entries are ``{"v": 1, "found": bool, "value": encode(value)}``; ``decode`` must raise
    ``ValueError``/``TypeError``/``KeyError`` on anything it does not accept, which makes the
    entry a miss. Vendor errors are never cached.
    """

    def __init__(
        self,
        cache: Cache,
        *,
        kind: str,
        vendor: str,
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
        ttl: Callable[[T], float],
        negative_ttl: float,
        lock_ttl: float,
        poll_interval: float = 0.02,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        metrics: Metrics | None = None,
    ) -> None:
        self._cache = cache
        self._metrics = metrics
        self._kind = kind
        self._vendor = vendor
        self._log = vendor_logger(vendor)
        self._encode = encode
        self._decode = decode
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._lock_ttl = lock_ttl
        self._poll = poll_interval
        self._clock = clock
        self._sleep = sleep
        self._inflight: dict[str, asyncio.Task[Found[T]]] = {}
        #: cache entries already decoded, by their exact bytes (values are immutable)
        self._decoded: dict[bytes, T | None] = {}

    async def get(
        self, ident: str, fetch: Callable[[float], Awaitable[T | None]], deadline_at: float
    ) -> Found[T]:
        """The cached answer for ``ident``, else ``fetch(deadline_at)``'s, shared with every
        concurrent caller for the same id. A caller's cancellation does not cancel the flight.

        A hit is read by the caller itself: no task, no extra turn of the event loop (the
        common case). A miss starts a flight, or joins the one already under way.
        """
        task = self._inflight.get(ident)
        if task is None:
            key = self._cache.key(self._kind, ident)
            hit = await self._read(key)
            if hit is not _MISS:
                self._count(hit=True)
                return Found(hit, "cache")
            task = self._inflight.get(ident)  # one may have started while we read
            if task is None:
                self._count(hit=False)
                task = asyncio.create_task(self._flight(ident, fetch, deadline_at, key=key))
                self._inflight[ident] = task
                task.add_done_callback(lambda done: self._landed(ident, done))
        return await asyncio.shield(task)

    def _count(self, *, hit: bool) -> None:
        if self._metrics is not None:
            self._metrics.cache_lookup(self._kind, hit=hit)

    def _landed(self, ident: str, task: asyncio.Task[Found[T]]) -> None:
        if self._inflight.get(ident) is task:
            del self._inflight[ident]
        if not task.cancelled():
            task.exception()  # retrieved: its callers may all have gone

    async def close(self) -> None:
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _read(self, key: str) -> Any:
        return self._decoded_entry(await self._cache.get(key))

    def _decoded_entry(self, raw: bytes | None) -> Any:
        if raw is None:
            return _MISS
        decoded = self._decoded.get(raw, _MISS)
        if decoded is not _MISS:
            return decoded
        decoded = self._parse(raw)
        if decoded is not _MISS:
            if len(self._decoded) >= DECODED_ENTRIES:
                self._decoded.clear()  # bounded; refilled by the hits that follow
            self._decoded[raw] = decoded
        return decoded

    def _parse(self, raw: bytes) -> Any:
        try:
            entry = orjson.loads(raw)
            if not isinstance(entry, dict) or entry.get("v") != 1:
                raise ValueError("unknown entry")
            found = entry["found"]
            if found is False:
                return None
            if found is not True:
                raise ValueError("bad found flag")
            return self._decode(entry["value"])
        except (ValueError, TypeError, KeyError, VendorBadResponse):
            self._log.warning("ignoring a corrupt %s cache entry", self._kind)
            return _MISS

    async def _write(self, key: str, value: T | None) -> None:
        if value is None:
            entry: dict[str, Any] = {"v": 1, "found": False}
            ttl = self._negative_ttl
        else:
            entry = {"v": 1, "found": True, "value": self._encode(value)}
            ttl = self._ttl(value)
        await self._cache.set(key, json.dumps(entry, separators=(",", ":")).encode(), ttl)

    async def _flight(
        self,
        ident: str,
        fetch: Callable[[float], Awaitable[T | None]],
        deadline_at: float,
        *,
        key: str,
    ) -> Found[T]:
        """After a miss: take the lock, ask the vendor, fill the cache (or wait for whoever
        holds the lock to fill it)."""
        lock_key = self._cache.lock_key(self._kind, ident)
        while True:
            lock = await self._cache.acquire(lock_key, self._lock_ttl)
            if lock is not None:
                try:
                    if lock.token is not None:
                        # another process may have finished between our read and our lock
                        hit = await self._read(key)
                        if hit is not _MISS:
                            return Found(hit, "cache")
                    value = await fetch(deadline_at)
                    await self._write(key, value)
                    return Found(value, self._vendor)
                finally:
                    await self._cache.release(lock)
            # another process is asking the vendor: wait for its answer to land in the cache
            if self._clock() + self._poll >= deadline_at:
                raise VendorTimeout(reason="lock_wait")
            await self._sleep(self._poll)
            hit = await self._read(key)
            if hit is not _MISS:
                return Found(hit, "cache")
