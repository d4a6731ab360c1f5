"""``redis``, ``cache`` and ``rate_limits``: where shared state lives and how much of it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, IPvAnyNetwork, StringConstraints, model_validator

from bridge.settings.base import Model, SecretSource

#: ``host:port`` or ``[v6]:port``
HostPort = Annotated[
    str, StringConstraints(pattern=r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$")
]


def split_host_port(address: str) -> tuple[str, int]:
    """``"10.0.0.5:26379"`` or ``"[::1]:26379"`` -> (host, port)."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class RedisSentinelSettings(Model):
    """Redis Sentinel: the master's name and where the sentinels are."""

    master: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    #: ``host:port`` of each sentinel (three or more in production)
    addresses: list[HostPort] = Field(min_length=1)
    #: the sentinels' own ``requirepass``, when they have one
    password: SecretSource | None = None
    db: int = Field(default=0, ge=0, le=15)


class RedisClusterSettings(Model):
    """Redis Cluster: a few nodes to start from; the rest is discovered."""

    nodes: list[HostPort] = Field(min_length=1)


class RedisSettings(Model):
    #: redis://, rediss:// or unix:// URL; null (and no sentinel/cluster) = in-process cache
    url: str | None = Field(default=None, pattern=r"^(redis|rediss|unix)://")
    sentinel: RedisSentinelSettings | None = None
    cluster: RedisClusterSettings | None = None
    #: ACL user and password for the Redis servers (a URL may carry them itself instead)
    username: str | None = None
    password: SecretSource | None = None
    #: TLS to the Redis servers in sentinel and cluster mode (a URL says rediss:// instead)
    tls: bool = False
    socket_timeout: float = Field(default=0.3, gt=0, le=10)
    connect_timeout: float = Field(default=0.3, gt=0, le=10)
    #: seconds Redis is skipped after a failure
    breaker_cooldown: float = Field(default=3.0, ge=0, le=300)
    key_prefix: str = Field(default="bridge", pattern=r"^[A-Za-z0-9_.:-]{1,32}$")

    @model_validator(mode="after")
    def _one_topology(self) -> RedisSettings:
        given = [k for k in ("url", "sentinel", "cluster") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of url, sentinel or cluster, not {' and '.join(given)}")
        return self

    @property
    def mode(self) -> Literal["memory", "standalone", "sentinel", "cluster"]:
        if self.sentinel is not None:
            return "sentinel"
        if self.cluster is not None:
            return "cluster"
        return "memory" if self.url is None else "standalone"


class CacheSettings(Model):
    visitor_ttl: int = Field(default=300, ge=1, le=86400)
    negative_ttl: int = Field(default=30, ge=1, le=3600)
    max_entries: int = Field(default=10000, ge=1, le=10_000_000)


class RateSettings(Model):
    """One limit (GCRA): a sustained rate per minute, and how many requests may come at once."""

    per_minute: int = Field(ge=1, le=1_000_000)
    burst: int = Field(default=10, ge=1, le=100_000)


class RateLimitSettings(Model):
    """Abuse limits, shared through Redis when ``redis.url`` is set; ``null`` turns one off."""

    #: token endpoints, per client address (IPv6: per ``ipv6_prefix``)
    per_address: RateSettings | None = Field(
        default_factory=lambda: RateSettings(per_minute=300, burst=100)
    )
    #: token endpoints, per verified login subject
    per_subject: RateSettings | None = Field(
        default_factory=lambda: RateSettings(per_minute=60, burst=20)
    )
    #: staff lookups, per staff key (or staff login)
    per_staff_key: RateSettings | None = Field(
        default_factory=lambda: RateSettings(per_minute=600, burst=100)
    )
    #: proxies (CIDRs) whose ``X-Forwarded-For`` is believed; nobody else's is
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    #: IPv6 clients are counted per network of this prefix length (a /64 is one subscriber)
    ipv6_prefix: int = Field(default=64, ge=32, le=128)
    #: in-process limits: at most this many addresses or subjects remembered per limit
    max_tracked: int = Field(default=100_000, ge=100, le=10_000_000)
