"""The limiter itself: GCRA in process and in a real Redis, client addresses, its metrics."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from prometheus_client import generate_latest

from bridge.addresses import ClientAddresses
from bridge.errors import RateLimited
from bridge.metrics import Metrics
from bridge.ratelimit import (
    ADDRESS_LIMIT,
    STAFF_LIMIT,
    SUBJECT_LIMIT,
    MemoryGcra,
    Rate,
    RateLimits,
    RedisGcra,
    build_rate_limits,
)
from bridge.redis import SharedRedis, redis_client
from bridge.settings.storage import RateLimitSettings, RedisSettings
from tests.support.prom import parse
from tests.support.redis_server import RedisServer, unique_prefix
from tests.support.tokens import FakeClock


def events(metrics: Metrics, outcome: str) -> dict[str, int]:
    """``bridge_rate_limit_events_total`` by limit, for one outcome."""
    found: dict[str, int] = {}
    for (name, labels), count in parse(generate_latest(metrics.registry).decode()).items():
        tags = dict(labels)
        if name == "bridge_rate_limit_events_total" and tags["outcome"] == outcome and count:
            found[tags["limit"]] = int(count)
    return found


async def hit(gcra: RedisGcra, limit: str, ident: str, rate: Rate) -> float | None:
    """One check; seconds to wait (0.0: allowed and counted), None if Redis is unreachable."""
    result = await gcra.hit_many([(limit, ident, rate)])
    return None if result is None else result[0]


def shared(url: str, **knobs: float) -> SharedRedis:
    return SharedRedis.from_settings(RedisSettings(url=url, key_prefix=unique_prefix(), **knobs))


PER_MINUTE_60_BURST_3 = Rate(per_minute=60, burst=3)  # one a second, three at once


def test_rate_interval_and_tolerance() -> None:
    assert PER_MINUTE_60_BURST_3.interval == 1.0
    assert PER_MINUTE_60_BURST_3.tolerance == 3.0
    assert Rate(per_minute=600, burst=1).interval == pytest.approx(0.1)


# --- in process --------------------------------------------------------------------------------


def test_memory_allows_the_burst_then_says_when_to_come_back() -> None:
    clock = FakeClock(1000.0)
    gcra = MemoryGcra(max_tracked=100, clock=clock)
    waits = [gcra.hit_now(ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3) for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(1.0)


def test_memory_refills_at_the_sustained_rate() -> None:
    clock = FakeClock(1000.0)
    gcra = MemoryGcra(max_tracked=100, clock=clock)
    for _ in range(3):
        assert gcra.hit_now(ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3) == 0.0
    assert gcra.hit_now(ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3) > 0
    clock.advance(1.0)
    assert gcra.hit_now(ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3) == 0.0
    assert gcra.hit_now(ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3) > 0
    clock.advance(3.0)  # a full bucket again, but never more than the burst
    assert [gcra.hit_now(ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3) for _ in range(4)][3] > 0


def test_memory_refused_requests_do_not_push_the_wait_further() -> None:
    clock = FakeClock(1000.0)
    gcra = MemoryGcra(max_tracked=100, clock=clock)
    for _ in range(3):
        gcra.hit_now(ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3)
    waits = [gcra.hit_now(ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3) for _ in range(50)]
    assert max(waits) == pytest.approx(1.0)


def test_memory_counts_clients_and_limits_apart() -> None:
    clock = FakeClock(1000.0)
    gcra = MemoryGcra(max_tracked=100, clock=clock)
    for _ in range(3):
        gcra.hit_now(ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3)
    assert gcra.hit_now(ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3) > 0
    assert gcra.hit_now(ADDRESS_LIMIT, "b", PER_MINUTE_60_BURST_3) == 0.0
    assert gcra.hit_now(SUBJECT_LIMIT, "a", PER_MINUTE_60_BURST_3) == 0.0


def test_memory_is_bounded_and_forgets_the_least_recent_first() -> None:
    clock = FakeClock(1000.0)
    gcra = MemoryGcra(max_tracked=100, clock=clock)
    rate = Rate(per_minute=1, burst=1)  # every entry stays relevant for a minute
    gcra.hit_now(ADDRESS_LIMIT, "busy", rate)
    for i in range(1000):
        gcra.hit_now(ADDRESS_LIMIT, f"client-{i}", rate)
        if i % 50 == 0:
            gcra.hit_now(ADDRESS_LIMIT, "busy", rate)  # refused, but recently seen
        assert gcra.tracked(ADDRESS_LIMIT) <= 100
    assert gcra.hit_now(ADDRESS_LIMIT, "busy", rate) > 0  # still remembered
    assert gcra.hit_now(ADDRESS_LIMIT, "client-0", rate) == 0.0  # forgotten: a fresh allowance


def test_a_request_refused_by_either_limit_keeps_that_client_remembered() -> None:
    clock = FakeClock(1000.0)
    gcra = MemoryGcra(max_tracked=100, clock=clock)
    rates = {ADDRESS_LIMIT: Rate(per_minute=1_000_000, burst=1_000_000),
             SUBJECT_LIMIT: Rate(per_minute=1, burst=1)}  # fmt: skip
    assert gcra.decide([(ADDRESS_LIMIT, "a"), (SUBJECT_LIMIT, "busy")], rates) == (0.0, -1)
    for i in range(1000):
        assert gcra.decide([(ADDRESS_LIMIT, "a"), (SUBJECT_LIMIT, f"user-{i}")], rates) == (0.0, -1)
        if i % 50 == 0:
            wait, index = gcra.decide([(ADDRESS_LIMIT, "a"), (SUBJECT_LIMIT, "busy")], rates)
            assert wait > 0
            assert index == 1
        assert gcra.tracked(SUBJECT_LIMIT) <= 100
    assert (
        gcra.decide([(ADDRESS_LIMIT, "a"), (SUBJECT_LIMIT, "busy")], rates)[1] == 1
    )  # still remembered
    assert gcra.decide([(ADDRESS_LIMIT, "a"), (SUBJECT_LIMIT, "user-0")], rates) == (
        0.0,
        -1,
    )  # forgotten


def test_a_limit_without_a_rate_passes_and_the_index_is_into_the_checks() -> None:
    gcra = MemoryGcra(max_tracked=100, clock=FakeClock(1000.0))
    rates = {SUBJECT_LIMIT: Rate(per_minute=1, burst=1)}
    checks = [(ADDRESS_LIMIT, "a"), (SUBJECT_LIMIT, "u")]
    assert gcra.decide(checks, rates) == (0.0, -1)
    wait, index = gcra.decide(checks, rates)
    assert wait > 0
    assert index == 1
    assert gcra.tracked(ADDRESS_LIMIT) == 0  # a limit without a rate is not counted at all


# --- Redis -------------------------------------------------------------------------------------


@pytest.fixture
async def redis_gcra(redis_server: RedisServer) -> AsyncIterator[RedisGcra]:
    redis = SharedRedis(
        redis_client(RedisSettings(url=redis_server.url)), prefix=unique_prefix(), op_timeout=2
    )
    yield RedisGcra(redis)
    await redis.close()


async def test_redis_allows_the_burst_then_says_when_to_come_back(redis_gcra: RedisGcra) -> None:
    waits = [await hit(redis_gcra, ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3) for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] is not None
    assert 0.5 < waits[3] <= 1.0


async def test_redis_keys_hold_no_address_and_expire(
    redis_gcra: RedisGcra, redis_server: RedisServer
) -> None:
    await hit(redis_gcra, ADDRESS_LIMIT, "203.0.113.9", PER_MINUTE_60_BURST_3)
    key = redis_gcra.key(ADDRESS_LIMIT, "203.0.113.9")
    assert "203.0.113.9" not in key
    direct = aioredis.Redis.from_url(redis_server.url)
    try:
        assert 0 < await direct.pttl(key) <= 1000
    finally:
        await direct.aclose()


async def test_two_replicas_share_one_count(redis_server: RedisServer) -> None:
    prefix = unique_prefix()
    layers = [
        SharedRedis(redis_client(RedisSettings(url=redis_server.url)), prefix=prefix)
        for _ in range(2)
    ]
    replicas = [RedisGcra(layer) for layer in layers]
    try:
        waits = [
            await hit(replicas[i % 2], SUBJECT_LIMIT, "u", PER_MINUTE_60_BURST_3) for i in range(4)
        ]
    finally:
        for layer in layers:
            await layer.close()
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] is not None
    assert waits[3] > 0


async def test_redis_down_fails_open_once_logged_and_recovers(
    killable_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    redis = shared(killable_redis.url, breaker_cooldown=0)
    metrics = Metrics()
    limits = build_rate_limits(
        RateLimitSettings.model_validate({"per_subject": {"per_minute": 60, "burst": 1}}),
        redis,
        metrics=metrics,
    )
    try:
        await limits.check((SUBJECT_LIMIT, "u"))
        with pytest.raises(RateLimited):
            await limits.check((SUBJECT_LIMIT, "u"))
        killable_redis.kill()
        caplog.set_level(logging.INFO, logger="bridge.redis")
        for _ in range(5):
            await limits.check((SUBJECT_LIMIT, "u"))  # over the limit, but Redis cannot say so
        assert events(metrics, "fail_open") == {SUBJECT_LIMIT: 5}
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "skipping Redis" in warnings[0].getMessage()
        killable_redis.start()
        await limits.check((SUBJECT_LIMIT, "v"))
        assert "again" in caplog.records[-1].getMessage()
        with pytest.raises(RateLimited):
            await limits.check((SUBJECT_LIMIT, "v"))
    finally:
        await redis.close()


async def test_redis_breaker_skips_redis_during_the_cooldown(killable_redis: RedisServer) -> None:
    clock = FakeClock(1000.0)
    redis = SharedRedis(
        redis_client(RedisSettings(url=killable_redis.url)),
        prefix=unique_prefix(), breaker_cooldown=5, clock=clock,
    )  # fmt: skip
    gcra = RedisGcra(redis)
    try:
        killable_redis.kill()
        assert await hit(gcra, ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3) is None
        killable_redis.start()
        assert await hit(gcra, ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3) is None  # not asked
        assert redis.down
        clock.advance(5)
        assert await hit(gcra, ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3) == 0.0
        assert not redis.down
    finally:
        await redis.close()


# --- the facade --------------------------------------------------------------------------------


async def test_check_raises_rate_limited_with_retry_after_and_counts() -> None:
    clock = FakeClock(1000.0)
    metrics = Metrics()
    limits = RateLimits(
        {STAFF_LIMIT: Rate(per_minute=2, burst=1)},
        MemoryGcra(max_tracked=100, clock=clock),
        metrics=metrics,
    )
    await limits.check((STAFF_LIMIT, "key#1"))
    with pytest.raises(RateLimited) as caught:
        await limits.check((STAFF_LIMIT, "key#1"))
    assert caught.value.retry_after == 30
    assert caught.value.status == 429
    assert caught.value.reason == "rate_limited_staff"
    assert "key#1" not in repr(caught.value)
    assert events(metrics, "limited") == {STAFF_LIMIT: 1}


async def test_a_limit_set_to_none_is_not_checked() -> None:
    metrics = Metrics()
    gcra = MemoryGcra(max_tracked=100)
    limits = RateLimits({ADDRESS_LIMIT: None}, gcra, metrics=metrics)
    for _ in range(100):
        await limits.check((ADDRESS_LIMIT, "192.0.2.1"))
        await limits.check((ADDRESS_LIMIT, "x"), (SUBJECT_LIMIT, "u"))
    assert events(metrics, "limited") == {}
    assert gcra.tracked(ADDRESS_LIMIT) == 0  # nothing was even counted


async def test_without_redis_the_limits_are_in_process() -> None:
    clock = FakeClock(1000.0)
    limits = build_rate_limits(
        RateLimitSettings.model_validate({"per_address": {"per_minute": 60, "burst": 1}}),
        None,
        clock=clock,
    )
    await limits.check((ADDRESS_LIMIT, "a"))
    with pytest.raises(RateLimited):
        await limits.check((ADDRESS_LIMIT, "a"))
    clock.advance(1)
    await limits.check((ADDRESS_LIMIT, "a"))


# --- client addresses --------------------------------------------------------------------------

PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("198.51.100.7", [], "198.51.100.7"),
        # not a trusted proxy: its X-Forwarded-For is the client's own words
        ("198.51.100.7", ["203.0.113.1"], "198.51.100.7"),
        # a trusted proxy: the right-most hop that is not ours
        ("10.0.0.2", ["203.0.113.1"], "203.0.113.1"),
        ("10.0.0.2", ["1.1.1.1, 203.0.113.1, 10.0.0.9"], "203.0.113.1"),
        ("10.0.0.2", ["1.1.1.1, 203.0.113.1", "10.0.0.9"], "203.0.113.1"),
        ("10.0.0.2", ["203.0.113.1:4711"], "203.0.113.1"),
        ("10.0.0.2", ["[2001:db8::1]:443"], "2001:db8::/64"),
        # garbage: counted by the last proxy we trust, never by what the client wrote
        ("10.0.0.2", ["203.0.113.1, not-an-ip"], "10.0.0.2"),
        ("10.0.0.2", ["203.0.113.1, not-an-ip, 10.0.0.5"], "10.0.0.5"),
        ("10.0.0.2", [""], "10.0.0.2"),
        # all trusted: the left-most
        ("10.0.0.2", ["10.0.0.3, 10.0.0.4"], "10.0.0.3"),
        # IPv6: one /64 is one client; IPv4-mapped is IPv4
        ("2001:db8:1:2:aaaa::1", [], "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", [], "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.7", [], "198.51.100.7"),
        (None, [], "unknown"),
        ("", ["203.0.113.1"], "unknown"),
    ],
)
def test_client_address(peer: str | None, forwarded: list[str], expected: str) -> None:
    assert ClientAddresses(PROXIES).resolve(peer, forwarded) == expected


def test_forwarded_for_is_ignored_without_trusted_proxies() -> None:
    assert ClientAddresses().resolve("10.0.0.2", ["203.0.113.1"]) == "10.0.0.2"


def test_only_the_last_hops_are_walked() -> None:
    hops = ", ".join(["203.0.113.1"] + ["10.0.0.1"] * 100)
    assert ClientAddresses(PROXIES).resolve("10.0.0.2", [hops]) == "10.0.0.1"


# --- several limits at once (the token path: address and subject) -------------------------------


def test_memory_several_limits_are_all_or_nothing() -> None:
    clock = FakeClock(1000.0)
    gcra = MemoryGcra(max_tracked=100, clock=clock)
    one = Rate(per_minute=60, burst=1)
    assert gcra.hit_many_now(
        [(ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3), (SUBJECT_LIMIT, "u", one)]
    ) == (
        0.0,
        -1,
    )
    wait, index = gcra.hit_many_now(
        [(ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3), (SUBJECT_LIMIT, "u", one)]
    )
    assert index == 1
    assert wait == pytest.approx(1.0)
    # the refused request did not use the address's allowance: two more fit
    assert gcra.hit_now(ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3) == 0.0
    assert gcra.hit_now(ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3) == 0.0
    assert gcra.hit_now(ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3) > 0


async def test_redis_several_limits_are_all_or_nothing(redis_gcra: RedisGcra) -> None:
    one = Rate(per_minute=60, burst=1)
    checks = [(ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3), (SUBJECT_LIMIT, "u", one)]
    assert await redis_gcra.hit_many(checks) == (0.0, -1)
    result = await redis_gcra.hit_many(checks)
    assert result is not None
    assert result[1] == 1
    assert 0.5 < result[0] <= 1.0
    waits = [await hit(redis_gcra, ADDRESS_LIMIT, "a", PER_MINUTE_60_BURST_3) for _ in range(3)]
    assert waits[:2] == [0.0, 0.0]
    assert waits[2] is not None
    assert waits[2] > 0


async def test_check_names_the_limit_that_refused_and_counts_none() -> None:
    metrics = Metrics()
    gcra = MemoryGcra(max_tracked=100, clock=FakeClock(1000.0))
    limits = RateLimits(
        {ADDRESS_LIMIT: Rate(per_minute=60, burst=5), SUBJECT_LIMIT: Rate(per_minute=60, burst=1)},
        gcra,
        metrics=metrics,
    )
    await limits.check((ADDRESS_LIMIT, "a"), (SUBJECT_LIMIT, "u"))
    with pytest.raises(RateLimited) as caught:
        await limits.check((ADDRESS_LIMIT, "a"), (SUBJECT_LIMIT, "u"))
    assert caught.value.reason == "rate_limited_subject"
    assert events(metrics, "limited") == {SUBJECT_LIMIT: 1}
    for _ in range(4):  # the refused request used none of the address's five
        await limits.check((ADDRESS_LIMIT, "a"))
    with pytest.raises(RateLimited) as caught:
        await limits.check((ADDRESS_LIMIT, "a"))
    assert caught.value.reason == "rate_limited_address"


async def test_shared_limits_count_in_redis(redis_gcra: RedisGcra) -> None:
    limits = RateLimits({ADDRESS_LIMIT: Rate(per_minute=60, burst=1)}, redis_gcra)
    await limits.check(
        (ADDRESS_LIMIT, "a"), (SUBJECT_LIMIT, "u")
    )  # the subject limit is not configured
    with pytest.raises(RateLimited):
        await limits.check((ADDRESS_LIMIT, "a"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # RFC 7239 Forwarded, read as X-Forwarded-For is
        ("10.0.0.2", ["for=203.0.113.1"], "203.0.113.1"),
        ("10.0.0.2", ["for=1.1.1.1, for=203.0.113.1, for=10.0.0.9"], "203.0.113.1"),
        ("10.0.0.2", ["for=1.1.1.1", "for=203.0.113.1;proto=https"], "203.0.113.1"),
        ("10.0.0.2", ['for="203.0.113.1:4711"'], "203.0.113.1"),
        ("10.0.0.2", ['for="[2001:db8::1]:443"'], "2001:db8::/64"),
        ("10.0.0.2", ['for="[fd00::1]", for=10.0.0.3'], "fd00::/64"),
        # an undisclosed, obfuscated or missing hop: counted by the last proxy we trust
        ("10.0.0.2", ["for=203.0.113.1, for=unknown"], "10.0.0.2"),
        ("10.0.0.2", ["for=203.0.113.1, for=_hidden, for=10.0.0.5"], "10.0.0.5"),
        ("10.0.0.2", ["for=203.0.113.1, proto=https"], "10.0.0.2"),
        # a header that breaks the grammar: nothing in it is believed
        ("10.0.0.2", ['for=203.0.113.1, for="198.51.100.9'], "10.0.0.2"),
        # not a trusted proxy: ignored
        ("198.51.100.7", ["for=203.0.113.1"], "198.51.100.7"),
    ],
)
def test_client_address_from_forwarded(peer: str, forwarded: list[str], expected: str) -> None:
    assert ClientAddresses(PROXIES).resolve(peer, (), forwarded) == expected


def test_both_headers_naming_one_client_agree() -> None:
    addresses = ClientAddresses(PROXIES)
    assert addresses.resolve("10.0.0.2", ["203.0.113.1"], ["for=203.0.113.1"]) == "203.0.113.1"


def test_both_headers_naming_different_clients_count_by_the_proxy() -> None:
    """A proxy writes one of the two and passes the other on: that one is the client's own."""
    addresses = ClientAddresses(PROXIES)
    assert addresses.resolve("10.0.0.2", ["203.0.113.1"], ["for=198.51.100.9"]) == "10.0.0.2"


@pytest.mark.parametrize("trusted", [[], PROXIES], ids=["no-proxies", "other-proxies"])
@pytest.mark.parametrize(
    ("xff", "forwarded", "named"),
    [(["203.0.113.1"], [], "X-Forwarded-For"), ([], ["for=203.0.113.1"], "Forwarded")],
    ids=["xff", "forwarded"],
)
def test_forwarding_headers_from_an_untrusted_peer_are_a_warning_once(
    caplog: pytest.LogCaptureFixture,
    trusted: list[ipaddress.IPv4Network],
    xff: list[str],
    forwarded: list[str],
    named: str,
) -> None:
    addresses = ClientAddresses(trusted)
    with caplog.at_level(logging.WARNING, logger="bridge.ratelimit"):
        assert addresses.resolve("192.0.2.8") == "192.0.2.8"
        assert caplog.records == []  # no forwarding header: nothing to say
        for _ in range(3):
            assert addresses.resolve("192.0.2.8", xff, forwarded) == "192.0.2.8"
            assert addresses.resolve("192.0.2.9", xff, forwarded) == "192.0.2.9"
    [record] = caplog.records
    message = record.getMessage()
    assert record.levelno == logging.WARNING
    assert "192.0.2.8" in message
    assert named in message
    assert "trusted_proxies" in message
    assert "203.0.113.1" not in message  # what the header says is not logged


def test_a_trusted_proxy_is_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bridge.ratelimit"):
        ClientAddresses(PROXIES).resolve("10.0.0.2", ["203.0.113.1"], ["for=203.0.113.1"])
    assert caplog.records == []
