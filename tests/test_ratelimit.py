"""The limiter itself: GCRA in process and in a real Redis, client addresses, counters."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bridge.cache import redis_client
from bridge.errors import RateLimited
from bridge.ratelimit import (
    ADDRESS,
    STAFF,
    SUBJECT,
    ClientAddresses,
    MemoryGcra,
    Rate,
    RateLimits,
    RedisGcra,
    build_rate_limits,
)
from bridge.settings import RateLimitSettings, RedisSettings
from tests.redis_server import RedisServer, unique_prefix
from tests.tokens import FakeClock

PER_MINUTE_60_BURST_3 = Rate(per_minute=60, burst=3)  # one a second, three at once


def test_rate_interval_and_tolerance() -> None:
    assert PER_MINUTE_60_BURST_3.interval == 1.0
    assert PER_MINUTE_60_BURST_3.tolerance == 3.0
    assert Rate(per_minute=600, burst=1).interval == pytest.approx(0.1)


# --- in process --------------------------------------------------------------------------------


def test_memory_allows_the_burst_then_says_when_to_come_back() -> None:
    clock = FakeClock(1000.0)
    gcra = MemoryGcra(max_tracked=100, clock=clock)
    waits = [gcra.hit_now(ADDRESS, "a", PER_MINUTE_60_BURST_3) for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(1.0)


def test_memory_refills_at_the_sustained_rate() -> None:
    clock = FakeClock(1000.0)
    gcra = MemoryGcra(max_tracked=100, clock=clock)
    for _ in range(3):
        assert gcra.hit_now(ADDRESS, "a", PER_MINUTE_60_BURST_3) == 0.0
    assert gcra.hit_now(ADDRESS, "a", PER_MINUTE_60_BURST_3) > 0
    clock.advance(1.0)
    assert gcra.hit_now(ADDRESS, "a", PER_MINUTE_60_BURST_3) == 0.0
    assert gcra.hit_now(ADDRESS, "a", PER_MINUTE_60_BURST_3) > 0
    clock.advance(3.0)  # a full bucket again, but never more than the burst
    assert [gcra.hit_now(ADDRESS, "a", PER_MINUTE_60_BURST_3) for _ in range(4)][3] > 0


def test_memory_refused_requests_do_not_push_the_wait_further() -> None:
    clock = FakeClock(1000.0)
    gcra = MemoryGcra(max_tracked=100, clock=clock)
    for _ in range(3):
        gcra.hit_now(ADDRESS, "a", PER_MINUTE_60_BURST_3)
    waits = [gcra.hit_now(ADDRESS, "a", PER_MINUTE_60_BURST_3) for _ in range(50)]
    assert max(waits) == pytest.approx(1.0)


def test_memory_counts_clients_and_limits_apart() -> None:
    clock = FakeClock(1000.0)
    gcra = MemoryGcra(max_tracked=100, clock=clock)
    for _ in range(3):
        gcra.hit_now(ADDRESS, "a", PER_MINUTE_60_BURST_3)
    assert gcra.hit_now(ADDRESS, "a", PER_MINUTE_60_BURST_3) > 0
    assert gcra.hit_now(ADDRESS, "b", PER_MINUTE_60_BURST_3) == 0.0
    assert gcra.hit_now(SUBJECT, "a", PER_MINUTE_60_BURST_3) == 0.0


def test_memory_is_bounded_and_forgets_the_least_recent_first() -> None:
    clock = FakeClock(1000.0)
    gcra = MemoryGcra(max_tracked=100, clock=clock)
    rate = Rate(per_minute=1, burst=1)  # every entry stays relevant for a minute
    gcra.hit_now(ADDRESS, "busy", rate)
    for i in range(1000):
        gcra.hit_now(ADDRESS, f"client-{i}", rate)
        if i % 50 == 0:
            gcra.hit_now(ADDRESS, "busy", rate)  # refused, but recently seen
        assert gcra.tracked(ADDRESS) <= 100
    assert gcra.hit_now(ADDRESS, "busy", rate) > 0  # still remembered
    assert gcra.hit_now(ADDRESS, "client-0", rate) == 0.0  # forgotten: a fresh allowance


# --- Redis -------------------------------------------------------------------------------------


@pytest.fixture
async def redis_gcra(redis_server: RedisServer) -> AsyncIterator[RedisGcra]:
    gcra = RedisGcra(
        redis_client(RedisSettings(url=redis_server.url)), prefix=unique_prefix(), op_timeout=2
    )
    yield gcra
    await gcra.close()


async def test_redis_allows_the_burst_then_says_when_to_come_back(redis_gcra: RedisGcra) -> None:
    waits = [await redis_gcra.hit(ADDRESS, "a", PER_MINUTE_60_BURST_3) for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] is not None
    assert 0.5 < waits[3] <= 1.0


async def test_redis_keys_hold_no_address_and_expire(
    redis_gcra: RedisGcra, redis_server: RedisServer
) -> None:
    await redis_gcra.hit(ADDRESS, "203.0.113.9", PER_MINUTE_60_BURST_3)
    key = redis_gcra.key(ADDRESS, "203.0.113.9")
    assert "203.0.113.9" not in key
    direct = aioredis.Redis.from_url(redis_server.url)
    try:
        assert 0 < await direct.pttl(key) <= 1000
    finally:
        await direct.aclose()


async def test_two_replicas_share_one_count(redis_server: RedisServer) -> None:
    prefix = unique_prefix()
    replicas = [
        RedisGcra(redis_client(RedisSettings(url=redis_server.url)), prefix=prefix)
        for _ in range(2)
    ]
    try:
        waits = [await replicas[i % 2].hit(SUBJECT, "u", PER_MINUTE_60_BURST_3) for i in range(4)]
    finally:
        for replica in replicas:
            await replica.close()
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] is not None
    assert waits[3] > 0


async def test_redis_down_fails_open_once_logged_and_recovers(
    killable_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = RedisSettings(url=killable_redis.url, breaker_cooldown=0)
    limits = build_rate_limits(
        RateLimitSettings.model_validate({"per_subject": {"per_minute": 60, "burst": 1}}),
        settings,
    )
    try:
        await limits.check(SUBJECT, "u")
        with pytest.raises(RateLimited):
            await limits.check(SUBJECT, "u")
        killable_redis.kill()
        caplog.set_level(logging.INFO, logger="bridge.ratelimit")
        for _ in range(5):
            await limits.check(SUBJECT, "u")  # over the limit, but Redis cannot say so
        assert limits.counters.fail_open[SUBJECT] == 5
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "failing open" in warnings[0].getMessage()
        killable_redis.start()
        await limits.check(SUBJECT, "v")
        assert "again" in caplog.records[-1].getMessage()
        with pytest.raises(RateLimited):
            await limits.check(SUBJECT, "v")
    finally:
        await limits.close()


async def test_redis_breaker_skips_redis_during_the_cooldown(killable_redis: RedisServer) -> None:
    clock = FakeClock(1000.0)
    gcra = RedisGcra(
        redis_client(RedisSettings(url=killable_redis.url)), breaker_cooldown=5, clock=clock
    )
    try:
        killable_redis.kill()
        assert await gcra.hit(ADDRESS, "a", PER_MINUTE_60_BURST_3) is None
        killable_redis.start()
        assert await gcra.hit(ADDRESS, "a", PER_MINUTE_60_BURST_3) is None  # not asked
        assert gcra.down
        clock.advance(5)
        assert await gcra.hit(ADDRESS, "a", PER_MINUTE_60_BURST_3) == 0.0
        assert not gcra.down
    finally:
        await gcra.close()


# --- the facade --------------------------------------------------------------------------------


async def test_check_raises_rate_limited_with_retry_after_and_counts() -> None:
    clock = FakeClock(1000.0)
    limits = RateLimits(
        {STAFF: Rate(per_minute=2, burst=1)}, MemoryGcra(max_tracked=100, clock=clock)
    )
    await limits.check(STAFF, "key#1")
    with pytest.raises(RateLimited) as caught:
        await limits.check(STAFF, "key#1")
    assert caught.value.retry_after == 30
    assert caught.value.status == 429
    assert caught.value.reason == "rate_limited_staff"
    assert "key#1" not in repr(caught.value)
    assert limits.counters.limited == {STAFF: 1}


async def test_a_limit_set_to_none_is_not_checked() -> None:
    limits = RateLimits({ADDRESS: None}, MemoryGcra(max_tracked=100))
    for _ in range(100):
        await limits.check_address("192.0.2.1")
        await limits.check(ADDRESS, "x")
    assert limits.counters.limited == {}


def test_default_settings_build_an_in_process_limiter() -> None:
    limits = build_rate_limits(RateLimitSettings(), RedisSettings())
    assert isinstance(limits.backend, MemoryGcra)


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
    assert gcra.hit_many_now([(ADDRESS, "a", PER_MINUTE_60_BURST_3), (SUBJECT, "u", one)]) == (
        0.0,
        -1,
    )
    wait, index = gcra.hit_many_now([(ADDRESS, "a", PER_MINUTE_60_BURST_3), (SUBJECT, "u", one)])
    assert index == 1
    assert wait == pytest.approx(1.0)
    # the refused request did not use the address's allowance: two more fit
    assert gcra.hit_now(ADDRESS, "a", PER_MINUTE_60_BURST_3) == 0.0
    assert gcra.hit_now(ADDRESS, "a", PER_MINUTE_60_BURST_3) == 0.0
    assert gcra.hit_now(ADDRESS, "a", PER_MINUTE_60_BURST_3) > 0


async def test_redis_several_limits_are_all_or_nothing(redis_gcra: RedisGcra) -> None:
    one = Rate(per_minute=60, burst=1)
    checks = [(ADDRESS, "a", PER_MINUTE_60_BURST_3), (SUBJECT, "u", one)]
    assert await redis_gcra.hit_many(checks) == (0.0, -1)
    result = await redis_gcra.hit_many(checks)
    assert result is not None
    assert result[1] == 1
    assert 0.5 < result[0] <= 1.0
    waits = [await redis_gcra.hit(ADDRESS, "a", PER_MINUTE_60_BURST_3) for _ in range(3)]
    assert waits[:2] == [0.0, 0.0]
    assert waits[2] is not None
    assert waits[2] > 0


async def test_check_all_names_the_limit_that_refused() -> None:
    limits = RateLimits(
        {ADDRESS: Rate(per_minute=60, burst=5), SUBJECT: Rate(per_minute=60, burst=1)},
        MemoryGcra(max_tracked=100, clock=FakeClock(1000.0)),
    )
    await limits.check_all([(ADDRESS, "a"), (SUBJECT, "u")])
    with pytest.raises(RateLimited) as caught:
        await limits.check_all([(ADDRESS, "a"), (SUBJECT, "u")])
    assert caught.value.reason == "rate_limited_subject"
    assert limits.counters.limited == {SUBJECT: 1}


async def test_in_process_limits_are_decided_without_a_coroutine() -> None:
    """``check_all_now`` is the token path's common case: the same decisions and counts as
    ``check_all``, made at once."""
    limits = RateLimits(
        {ADDRESS: Rate(per_minute=60, burst=2), SUBJECT: None},
        MemoryGcra(max_tracked=100, clock=FakeClock(1000.0)),
    )
    assert limits.check_all_now([(ADDRESS, "a"), (SUBJECT, "u")]) is True
    assert limits.check_all_now([(ADDRESS, "a")]) is True
    with pytest.raises(RateLimited) as caught:
        limits.check_all_now([(ADDRESS, "a"), (SUBJECT, "u")])
    assert caught.value.reason == "rate_limited_address"
    assert caught.value.retry_after == 1
    assert limits.counters.limited == {ADDRESS: 1}
    assert limits.check_all_now([(SUBJECT, "u")]) is True  # not configured: nothing to do


async def test_shared_limits_are_left_to_the_awaited_check(redis_gcra: RedisGcra) -> None:
    limits = RateLimits({ADDRESS: Rate(per_minute=60, burst=1)}, redis_gcra)
    for _ in range(3):  # would be refused by the second if it counted
        assert limits.check_all_now([(ADDRESS, "a")]) is False
    await limits.check_all([(ADDRESS, "a")])
    with pytest.raises(RateLimited):
        await limits.check_all([(ADDRESS, "a")])
    assert limits.check_all_now([(SUBJECT, "u")]) is True  # no configured limit among them
