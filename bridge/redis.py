"""Redis for the whole worker: one client, one fail-open breaker, one key layout.

The lookup cache (:mod:`bridge.cache`) and the shared rate limits (:mod:`bridge.ratelimit`)
both go through :class:`SharedRedis`, so a worker holds one connection pool and one view of
whether Redis is up.

Redis is a cache here, never a source of truth, so it **fails open**: every error, timeout or
refused connection makes the operation report :data:`FAILED` (the caller then treats it as a
miss, or lets the request through), is logged once per outage, and trips a breaker that skips
Redis entirely for ``breaker_cooldown`` seconds, so a dead Redis costs one short timeout per
cooldown rather than one per request. :meth:`SharedRedis.ping` is the one call that always
asks (for ``/readyz``); its success closes the breaker.

Keys are ``{prefix}:v1:{kind}:{sha256(id)}``: namespaced, versioned (:data:`KEY_VERSION`), and
the id itself (a visitor id, an address, a login subject) never appears in a key.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, TypeVar

from bridge.settings.storage import RedisSettings, split_host_port

if TYPE_CHECKING:  # the client library is loaded when a Redis is configured, and only its mode
    import redis.asyncio as aioredis
    from redis.asyncio.cluster import RedisCluster

    from bridge.metrics import Metrics

    Client: TypeAlias = aioredis.Redis | RedisCluster

log = logging.getLogger("bridge.redis")

T = TypeVar("T")

#: version of the key layout and of the stored values; bump to orphan every old entry
KEY_VERSION = "v1"


class Failed(enum.Enum):
    """What an operation that did not reach Redis returns (``is FAILED`` narrows the type)."""

    FAILED = "failed"


FAILED: Final = Failed.FAILED


def hash_id(ident: str) -> str:
    return hashlib.sha256(ident.encode("utf-8")).hexdigest()


def redis_client(settings: RedisSettings) -> Client:
    """A client for the configured topology, with short timeouts and no retries of its own
    (callers fail open instead). Does no I/O.

    * ``url``: one server (``redis://``, ``rediss://`` or ``unix://``);
    * ``sentinel``: asks the sentinels for the current master of ``sentinel.master`` and
      asks again whenever a connection breaks or the old master has become a replica, so a
      failover costs the requests in flight during it and nothing after;
    * ``cluster``: discovers the slots from ``cluster.nodes`` and follows MOVED/ASK.
    """
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

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
        from redis.asyncio.sentinel import Sentinel

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
        from redis.asyncio.cluster import ClusterNode, RedisCluster

        nodes = [ClusterNode(*split_host_port(address)) for address in settings.cluster.nodes]
        return RedisCluster(
            startup_nodes=nodes, require_full_coverage=False,
            **common,
        )  # fmt: skip
    assert settings.url is not None
    return aioredis.Redis.from_url(settings.url, **common)


class SharedRedis:
    """The worker's Redis: :meth:`run` an operation, failing open behind one breaker.

    ``client`` should be built with short socket timeouts and no retries (:func:`redis_client`
    does that); ``op_timeout`` is a last-resort bound on any one operation, pool waits
    included.
    """

    def __init__(
        self,
        client: Client,
        *,
        prefix: str = "bridge",
        cluster: bool = False,
        breaker_cooldown: float = 3.0,
        op_timeout: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        #: Redis Cluster: a script may only touch keys of one slot
        self.cluster = cluster
        self._cooldown = breaker_cooldown
        self._op_timeout = op_timeout
        self._clock = clock
        self._metrics = metrics
        self._skip_until = 0.0
        #: None until the first operation says whether Redis answers
        self._down: bool | None = None

    @classmethod
    def from_settings(
        cls,
        settings: RedisSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
    ) -> SharedRedis:
        """The configured Redis (``url``, ``sentinel`` or ``cluster``). Does no I/O."""
        return cls(
            redis_client(settings),
            prefix=settings.key_prefix,
            cluster=settings.mode == "cluster",
            breaker_cooldown=settings.breaker_cooldown,
            op_timeout=settings.socket_timeout + settings.connect_timeout + 0.2,
            clock=clock,
            metrics=metrics,
        )

    @property
    def available(self) -> bool:
        """False while the breaker skips Redis after a failure."""
        return self._clock() >= self._skip_until

    @property
    def down(self) -> bool:
        """True from a failure until Redis answers again."""
        return bool(self._down)

    async def run(
        self, operation: str, call: Callable[[], Awaitable[T]]
    ) -> T | Literal[Failed.FAILED]:
        """``await call()``, or :data:`FAILED` when Redis is skipped or the call fails."""
        if not self.available:
            return FAILED
        try:
            async with asyncio.timeout(self._op_timeout):
                result = await call()
        except Exception as exc:  # fail open: no Redis problem may reach a handler
            self._failed(operation, exc)
            return FAILED
        self._succeeded()
        return result

    async def ping(self) -> bool:
        """Really asks Redis, breaker or not; a success closes the breaker.

        With Sentinel it first asks the sentinels who the master is, which drops idle
        connections to a former master: a planned failover leaves the old master writable
        until the sentinels demote it, and pooled connections would keep writing there (lost
        entries). Readiness probes call this every few seconds, which bounds that window.
        """
        # a Sentinel pool's (its module is only loaded in Sentinel mode)
        master_address = getattr(getattr(self.client, "connection_pool", None),
                                 "get_master_address", None)  # fmt: skip
        try:
            async with asyncio.timeout(self._op_timeout):
                if master_address is not None:
                    await master_address()
                await self.client.ping()
        except Exception as exc:
            self._failed("ping", exc)
            return False
        self._succeeded()
        return True

    def _failed(self, operation: str, exc: BaseException) -> None:
        self._skip_until = self._clock() + self._cooldown
        if not self._down:
            # once per outage, not once per request; never the key (it names a lookup)
            log.warning(
                "redis %s failed (%s); skipping Redis for %.1fs at a time until it answers",
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

    async def close(self) -> None:
        await self.client.aclose()
        # Sentinel mode: the clients that talk to the sentinels themselves
        manager = getattr(getattr(self.client, "connection_pool", None), "sentinel_manager", None)
        for sentinel in getattr(manager, "sentinels", ()):
            await sentinel.aclose()
