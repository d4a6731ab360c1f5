"""Abuse limits: per client address and per login subject on the token endpoints, per staff key
on the lookups.

Each limit is GCRA (the generic cell rate algorithm, a leaky bucket kept as one timestamp per
client): ``per_minute`` sets the sustained rate and ``burst`` how many requests may arrive at
once. A client's state is its *theoretical arrival time* (TAT); a request is allowed when
``max(TAT, now) + interval - now <= burst * interval`` and then moves TAT on by one interval,
so a refused request costs nothing and the answer says exactly when to come back
(``Retry-After``). :meth:`RateLimits.check` is the one entry point; it takes one or several
limits at once (the token path's address and subject), all or nothing: if one refuses, none is
counted.

Where the state lives:

* :class:`MemoryGcra`: a bounded dict per limit, in this process (no ``redis.url``). Least
  recently allowed clients are forgotten first when ``max_tracked`` is reached; forgetting one
  only ever gives it a fresh allowance.
* :class:`RedisGcra`: one small Lua script (one round trip) per check of one or several limits,
  with Redis's own clock, so every replica shares one count. Keys are
  ``{prefix}:v1:rl:{limit}:{sha256(id)}`` (no address or subject in Redis keys; they sit in
  one hash slot in Redis Cluster, through a hash tag). Redis being down **fails open**: the
  request is allowed and counted in ``bridge_rate_limit_events_total{outcome="fail_open"}``;
  the worker's :class:`~bridge.redis.SharedRedis` logs the outage once and skips Redis for
  ``redis.breaker_cooldown`` seconds, so an outage costs one timeout per cooldown rather than
  one per request.

Client addresses come from :class:`bridge.addresses.ClientAddresses`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NoReturn, Protocol

from bridge.addresses import ClientAddresses
from bridge.errors import RateLimited
from bridge.metrics import Metrics
from bridge.redis import FAILED, KEY_VERSION, SharedRedis, hash_id
from bridge.settings.storage import RateLimitSettings, RateSettings

#: the limits by name, as used in counters, log lines and error reasons
ADDRESS_LIMIT, SUBJECT_LIMIT, STAFF_LIMIT = "address", "subject", "staff"
log = logging.getLogger("bridge.ratelimit")


@dataclass(frozen=True, slots=True)
class Rate:
    """``per_minute`` sustained, ``burst`` at once; the GCRA interval and tolerance in seconds
    (worked out once: every token request reads them)."""

    per_minute: int
    burst: int
    interval: float = field(init=False, repr=False, compare=False)
    tolerance: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "interval", 60.0 / self.per_minute)
        object.__setattr__(self, "tolerance", self.interval * self.burst)

    @classmethod
    def of(cls, settings: RateSettings | None) -> Rate | None:
        return None if settings is None else cls(settings.per_minute, settings.burst)


#: one check: (limit name, client id, rate)
Check = tuple[str, str, Rate]
#: what a check answers when every limit allows the request
_ALLOWED = (0.0, -1)


class Backend(Protocol):
    async def hit_many(self, checks: Sequence[Check]) -> tuple[float, int] | None:
        """All or nothing: ``(0.0, -1)`` when every check passes (each is then counted), else
        ``(seconds to wait, index of the check that refused)`` and nothing is counted; None
        when the state is unreachable."""


class MemoryGcra:
    """GCRA state in this process: one dict per limit, bounded by ``max_tracked`` entries."""

    def __init__(self, *, max_tracked: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._max = max_tracked
        self._clock = clock
        self._tables: dict[str, dict[str, float]] = {}

    def tracked(self, limit: str) -> int:
        return len(self._tables.get(limit, ()))

    def hit_now(self, limit: str, ident: str, rate: Rate) -> float:
        """One check; seconds to wait (0.0: allowed and counted)."""
        return self.decide(((limit, ident),), {limit: rate})[0]

    def hit_many_now(self, checks: Sequence[Check]) -> tuple[float, int]:
        return self.decide([(limit, ident) for limit, ident, _ in checks],
                           {limit: rate for limit, _, rate in checks})  # fmt: skip

    def decide(
        self, checks: Sequence[tuple[str, str]], rates: Mapping[str, Rate]
    ) -> tuple[float, int]:
        """:meth:`hit_many_now` for each ``(limit, client id)`` whose limit is in ``rates``
        (the others pass): the index is into ``checks``. Builds nothing per check (a token
        request makes this call). A refused client counts as seen, so that a busy client is
        not the first to be forgotten (which would give it a fresh allowance)."""
        now = self._clock()
        tables = self._tables
        for index, (limit, ident) in enumerate(checks):
            rate = rates.get(limit)
            if rate is not None:
                table = tables.get(limit)
                tat = now if table is None else table.get(ident, now)
                wait = (tat if tat > now else now) + rate.interval - now - rate.tolerance
                if wait > 0:
                    if table is not None and ident in table:
                        # refused, but seen now: kept from the eviction of the least recent
                        table[ident] = table.pop(ident)
                    return wait, index
        for limit, ident in checks:
            rate = rates.get(limit)
            if rate is None:
                continue
            table = tables.get(limit)
            if table is None:
                table = tables[limit] = {}
            tat = table.pop(ident, now)  # re-inserted: the dict's order is least recent first
            table[ident] = (tat if tat > now else now) + rate.interval
            if len(table) > self._max:
                self._evict(table, now)
        return _ALLOWED

    def _evict(self, table: dict[str, float], now: float) -> None:
        """Drop what no longer matters, then the least recently allowed, down to 90%."""
        for ident in [ident for ident, tat in table.items() if tat <= now]:
            del table[ident]
        target = self._max * 9 // 10
        while len(table) > target:
            del table[next(iter(table))]

    async def hit_many(self, checks: Sequence[Check]) -> tuple[float, int] | None:
        return self.hit_many_now(checks)


# KEYS: one per check; ARGV: interval and tolerance of each, in microseconds. All or nothing:
# returns {0, 0} when every check passes (and stores each new TAT, expiring at that time), else
# {microseconds to wait, 1-based index of the check that refused} and stores nothing.
_GCRA_SCRIPT = """
local clock = redis.call("TIME")
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local new = {}
for i, key in ipairs(KEYS) do
    local interval = tonumber(ARGV[2 * i - 1])
    local tolerance = tonumber(ARGV[2 * i])
    local tat = tonumber(redis.call("GET", key)) or now
    if tat < now then tat = now end
    new[i] = tat + interval
    local wait = new[i] - now - tolerance
    if wait > 0 then return {math.ceil(wait), i} end
end
for i, key in ipairs(KEYS) do
    redis.call("SET", key, string.format("%d", new[i]), "PX", math.ceil((new[i] - now) / 1000))
end
return {0, 0}
"""


class RedisGcra:
    """GCRA state in Redis, shared by every replica; unreachable Redis answers None."""

    def __init__(self, redis: SharedRedis) -> None:
        self._redis = redis
        self._script = redis.client.register_script(_GCRA_SCRIPT)
        base = f"{redis.prefix}:{KEY_VERSION}:rl"
        # in a Redis Cluster a script may only touch keys of one slot: there every limit key
        # carries the same hash tag, so the all-or-nothing check stays one call
        self._prefix = f"{{{base}}}" if redis.cluster else base

    def key(self, limit: str, ident: str) -> str:
        return f"{self._prefix}:{limit}:{hash_id(ident)}"

    async def hit_many(self, checks: Sequence[Check]) -> tuple[float, int] | None:
        keys, args = [], []
        for limit, ident, rate in checks:
            interval = math.ceil(rate.interval * 1_000_000)
            keys.append(self.key(limit, ident))
            args += [interval, interval * rate.burst]
        script = self._script
        result = await self._redis.run("rate limit", lambda: script(keys=keys, args=args))
        if result is FAILED:
            return None
        wait, index = result
        return int(wait) / 1_000_000, int(index) - 1


class RateLimits:
    """The configured limits over one backend; :meth:`check` raises :class:`RateLimited`."""

    def __init__(
        self,
        rates: Mapping[str, Rate | None],
        backend: Backend,
        *,
        addresses: ClientAddresses | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._rates = {name: rate for name, rate in rates.items() if rate is not None}
        self._backend = backend
        # in-process state is decided without awaiting anything
        self._memory = backend if isinstance(backend, MemoryGcra) else None
        self.addresses = addresses or ClientAddresses()
        self._metrics = metrics

    async def check(self, *checks: tuple[str, str]) -> None:
        """Count the request against each ``(limit, client id)`` whose limit is configured,
        all at once (one Redis round trip); raise :class:`RateLimited` if any refuses, and then
        count it against none. Shared limits with Redis unreachable let the request through."""
        rates = self._rates
        if self._memory is not None:
            wait, index = self._memory.decide(checks, rates)
            if wait > 0:
                self._refuse(checks[index][0], wait)
            return
        found = [(limit, ident, rates[limit]) for limit, ident in checks if limit in rates]
        if not found:
            return
        result = await self._backend.hit_many(found)
        if result is None:
            if self._metrics is not None:
                for limit, _, _ in found:
                    self._metrics.rate_limit_event(limit, "fail_open")
            return
        wait, index = result
        if wait > 0:
            self._refuse(found[index][0], wait)

    def admit(self, *checks: tuple[str, str]) -> bool | Awaitable[bool]:
        """Like :meth:`check`, but False instead of a refusal, and then nothing is counted (no
        metric either): for a caller that hands a refused request to :meth:`check`. Shared
        limits with Redis unreachable are False too, for :meth:`check` to let through.

        Limits kept in this process decide at once (a ``bool``: no coroutine per request);
        shared ones answer an awaitable of it (one Redis call).
        """
        rates = self._rates
        if self._memory is not None:
            return self._memory.decide(checks, rates)[1] < 0
        found = [(limit, ident, rates[limit]) for limit, ident in checks if limit in rates]
        if not found:
            return True
        return self._admit_shared(found)

    async def _admit_shared(self, found: Sequence[Check]) -> bool:
        result = await self._backend.hit_many(found)
        return result is not None and result[1] < 0

    def _refuse(self, limit: str, wait: float) -> NoReturn:
        if self._metrics is not None:
            self._metrics.rate_limit_event(limit, "limited")
        raise RateLimited(retry_after=max(1, math.ceil(wait)), reason=f"rate_limited_{limit}")


def build_rate_limits(
    settings: RateLimitSettings,
    redis: SharedRedis | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    metrics: Metrics | None = None,
) -> RateLimits:
    """Shared through the worker's Redis when there is one, else in-process. Does no I/O."""
    rates = {
        ADDRESS_LIMIT: Rate.of(settings.per_address),
        SUBJECT_LIMIT: Rate.of(settings.per_subject),
        STAFF_LIMIT: Rate.of(settings.per_staff_key),
    }
    backend: Backend = (
        MemoryGcra(max_tracked=settings.max_tracked, clock=clock)
        if redis is None
        else RedisGcra(redis)
    )
    addresses = ClientAddresses(settings.trusted_proxies, ipv6_prefix=settings.ipv6_prefix)
    return RateLimits(rates, backend, addresses=addresses, metrics=metrics)
