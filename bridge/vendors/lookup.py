"""One vendor lookup behind the cache: an id in, a parsed answer (or "no such thing") out.

A :class:`CachedLookup` validates nothing itself; its subclasses say what they fetch and how
their answers are stored (:meth:`~CachedLookup.fetch`, :meth:`~CachedLookup.encode`,
:meth:`~CachedLookup.decode`), and it adds the per-lookup deadline, single flight
(:mod:`bridge.vendors.singleflight`) and one ``close``.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Generic, TypeVar

from bridge.cache import Cache
from bridge.metrics import Metrics
from bridge.vendors.client import VendorClient
from bridge.vendors.singleflight import Found, SingleFlight

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class CachedLookup(ABC, Generic[T]):
    """``fetch`` through ``client`` behind ``cache``: answers for ``ttl`` seconds, "no such
    thing" for ``negative_ttl``; vendor errors are never cached."""

    #: the cache key's kind and the metrics' ``kind`` label (``kind=`` gives an instance its own)
    kind: ClassVar[str]

    def __init__(
        self,
        client: VendorClient,
        cache: Cache,
        *,
        ttl: float = 300,
        negative_ttl: float = 30,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        metrics: Metrics | None = None,
        kind: str | None = None,
    ) -> None:
        self._client = client
        self._clock = clock
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._flights: SingleFlight[T] = SingleFlight(
            cache,
            kind=kind or self.kind,
            vendor=client.vendor,
            encode=self.encode,
            decode=self.decode,
            ttl=self.ttl_for,
            negative_ttl=negative_ttl,
            lock_ttl=client.deadline + 1.0,
            clock=clock,
            sleep=sleep,
            metrics=metrics,
        )

    @abstractmethod
    async def fetch(self, ident: str, deadline_at: float) -> T | None:
        """Ask the vendor; None means "no such thing"."""

    @abstractmethod
    def encode(self, value: T) -> Any:
        """``value`` as JSON-serialisable data for the cache."""

    @abstractmethod
    def decode(self, data: Any) -> T:
        """A cache entry back; raise ``ValueError``, ``TypeError``, ``KeyError`` or
        ``VendorBadResponse`` for anything unexpected (the entry is then a miss)."""

    def ttl_for(self, value: T) -> float:
        """How long an answer is cached."""
        return self._ttl

    def get(self, ident: str) -> Awaitable[Found[T]]:
        """The cached or fetched answer for an already validated ``ident``."""
        deadline_at = self._clock() + self._client.deadline
        return self._flights.get(ident, lambda at: self.fetch(ident, at), deadline_at)

    async def close(self) -> None:
        await self._flights.close()
