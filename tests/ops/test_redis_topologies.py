"""The lookup cache on real Redis topologies: Sentinel (with failovers) and Cluster.

Standalone ``redis://`` is covered by test_cache.py and test_api_visitors.py. Here the whole
gateway runs against a Sentinel-managed master that dies or is failed over mid-test, and
against a three-master Cluster; the fake Zendesk's request log shows when the cache answered.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis

from bridge.cache import RedisCache, build_cache
from bridge.errors import ConfigError
from bridge.redis import SharedRedis, hash_id, redis_client
from bridge.settings.loading import parse_settings
from bridge.settings.root import Settings
from bridge.settings.storage import RedisSettings
from tests.api.test_visitors import AUTH, LINKED, STAFF_KEY
from tests.conftest import AppClient, ClientFactory, config, settings
from tests.support.fake_zendesk import CHAT_TOKEN, FakeZendesk
from tests.support.redis_server import unique_prefix
from tests.support.redis_topology import MASTER_NAME, Node, SentinelSetup

OTHER = "9855790.second"
PREFIX = unique_prefix()  # each test has Redis servers of its own


def gateway_settings(fake: FakeZendesk, redis: dict[str, Any]) -> Settings:
    fake.visitors[OTHER] = {"id": OTHER, "name": "Second", "external_id": "user-2"}
    return settings(
        staff={"api_keys": [{"value": STAFF_KEY}]},
        redis={"key_prefix": PREFIX, "breaker_cooldown": 0, **redis},
        zendesk_chat_api={"base_url": fake.chat_url, "token": {"value": CHAT_TOKEN}},
    )


def cache_key(visitor_id: str) -> str:
    return f"{PREFIX}:v1:visitor:{hash_id(visitor_id)}"


async def lookup(client: AppClient, visitor_id: str) -> tuple[int, str]:
    async with client.get(f"/v1/visitors/{visitor_id}", headers=AUTH) as response:
        body = await response.json()
        return response.status, body.get("source", body.get("code"))


def sentinel_config(setup: SentinelSetup) -> dict[str, Any]:
    return {"sentinel": {"master": MASTER_NAME,
                         "addresses": [f"127.0.0.1:{setup.sentinel.port}"]}}  # fmt: skip


async def replicated(setup: SentinelSetup) -> None:
    """Wait until the replica has everything the master has (WAIT numreplicas timeout)."""
    master = aioredis.Redis(host="127.0.0.1", port=setup.master.port)
    try:
        assert await master.execute_command("WAIT", 1, 5000) >= 1  # type: ignore[no-untyped-call]
    finally:
        await master.aclose()


# --- configuration ---------------------------------------------------------------------------


def test_only_one_redis_topology_may_be_given() -> None:
    data = config(redis={"url": "redis://127.0.0.1:6379/0",
                         "cluster": {"nodes": ["127.0.0.1:7000"]}})  # fmt: skip
    with pytest.raises(ConfigError) as exc:
        parse_settings(data, environ={})
    assert exc.value.problems == [
        "redis: give one of url, sentinel or cluster, not url and cluster"
    ]


@pytest.mark.parametrize("address", ["127.0.0.1", "host:port", "a b:1", "[::1]"])
def test_sentinel_addresses_must_be_host_and_port(address: str) -> None:
    data = config(redis={"sentinel": {"master": "m", "addresses": [address]}})
    with pytest.raises(ConfigError) as exc:
        parse_settings(data, environ={})
    assert any(p.startswith("redis.sentinel.addresses.0") for p in exc.value.problems)


def test_redis_password_comes_from_a_secret_source_and_never_prints() -> None:
    parsed = parse_settings(
        config(redis={"url": "redis://127.0.0.1:1/0", "password": {"env": "REDIS_PASSWORD"}}),
        environ={"REDIS_PASSWORD": "redis-password-0123456789"},
    )
    assert parsed.redis.password is not None
    assert parsed.redis.password.secret.reveal() == b"redis-password-0123456789"
    assert "redis-password-0123456789" not in repr(parsed)


# --- Sentinel ------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["master-killed", "sentinel-failover"])
async def test_cache_keeps_working_through_a_sentinel_failover(
    how: str,
    redis_sentinel: SentinelSetup,
    make_client: ClientFactory,
    fake_zendesk: FakeZendesk,
) -> None:
    client = await make_client(gateway_settings(fake_zendesk, sentinel_config(redis_sentinel)))
    assert (await client.get("/readyz")).status == 200
    assert await lookup(client, LINKED) == (200, "zendesk")
    assert await lookup(client, LINKED) == (200, "cache")
    await replicated(redis_sentinel)

    old, new = redis_sentinel.master, redis_sentinel.replica
    if how == "master-killed":
        old.kill()
        # while the master is gone and not yet replaced, lookups still answer (from Zendesk)
        assert (await lookup(client, LINKED))[0] == 200
    else:
        assert redis_sentinel.sentinel.ask("SENTINEL", "FAILOVER", MASTER_NAME).startswith("+OK")
    redis_sentinel.wait_for_master(new.port)

    # lookups answer all along; the entry written before is on the promoted replica
    assert (await lookup(client, LINKED))[0] == 200
    new_master = aioredis.Redis(host="127.0.0.1", port=new.port)
    try:
        assert await new_master.exists(cache_key(LINKED)) == 1
        # new entries land on the new master. Until the old master is demoted (SENTINEL
        # FAILOVER) a pooled connection may still write to it: those entries are lost with
        # its resync, which for a cache only means a later miss. The readiness probe asks
        # the sentinels again and so ends that; the loop plays the kubelet's probes. While the
        # sentinels finish reconfiguring, a probe may briefly find no master: wait that out.
        for _ in range(100):
            if await redis_state(client) == "up":
                break
            await asyncio.sleep(0.1)
        for attempt in range(50):
            assert await redis_state(client) == "up"
            visitor = f"9855790.after{attempt}"
            fake_zendesk.visitors[visitor] = {"id": visitor, "name": "After"}
            assert await lookup(client, visitor) == (200, "zendesk")
            if await new_master.exists(cache_key(visitor)):
                assert await lookup(client, visitor) == (200, "cache")
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the gateway never wrote to the new master")
        assert attempt == 0  # the first probe after the switch moved the pool over
    finally:
        await new_master.aclose()
    assert (await client.get("/readyz")).status == 200


async def redis_state(client: AppClient) -> str:
    """What /readyz says of Redis; the instance is ready whatever it says."""
    async with client.get("/readyz") as response:
        assert response.status == 200
        state: str = (await response.json())["redis"]
        return state


async def test_readyz_reports_redis_down_while_no_sentinel_answers(
    redis_sentinel: SentinelSetup, make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(gateway_settings(fake_zendesk, sentinel_config(redis_sentinel)))
    assert await redis_state(client) == "up"
    for node in redis_sentinel.nodes:
        node.kill()
    assert await redis_state(client) == "down"
    assert (await lookup(client, LINKED)) == (200, "zendesk")  # fails open


# --- Cluster -------------------------------------------------------------------------------


async def test_cache_spreads_over_a_redis_cluster(redis_cluster: list[Node]) -> None:
    redis_settings = RedisSettings(
        cluster={"nodes": [f"127.0.0.1:{redis_cluster[0].port}"]},
        key_prefix=unique_prefix(),
    )
    redis = SharedRedis.from_settings(redis_settings)
    cache = build_cache(redis, prefix=redis.prefix, max_entries=10)
    assert isinstance(cache, RedisCache)
    try:
        assert await redis.ping()
        keys = [cache.key("visitor", f"visitor-{i}") for i in range(60)]
        for i, key in enumerate(keys):
            await cache.set(key, str(i).encode(), ttl=60)
        assert [await cache.get(key) for key in keys] == [str(i).encode() for i in range(60)]
        lock = await cache.acquire(cache.lock_key("visitor", "x"), ttl=5)
        assert lock is not None
        assert lock.token is not None
        assert await cache.acquire(cache.lock_key("visitor", "x"), ttl=5) is None
        await cache.release(lock)
        assert await cache.acquire(cache.lock_key("visitor", "x"), ttl=5) is not None
    finally:
        await redis.close()
    # the keys really are spread over the three masters
    holders = [int(node.ask("DBSIZE").strip(":\r\n")) for node in redis_cluster]
    assert sum(holders) >= 60
    assert all(count > 0 for count in holders)


async def test_gateway_lookups_are_cached_in_a_redis_cluster(
    redis_cluster: list[Node], make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    nodes = [f"127.0.0.1:{node.port}" for node in redis_cluster[:2]]
    client = await make_client(gateway_settings(fake_zendesk, {"cluster": {"nodes": nodes}}))
    assert (await client.get("/readyz")).status == 200
    assert await lookup(client, LINKED) == (200, "zendesk")
    assert await lookup(client, LINKED) == (200, "cache")


async def test_rate_limits_are_shared_and_atomic_in_a_redis_cluster(
    redis_cluster: list[Node],
) -> None:
    """Address and subject in one script call: their keys must share a slot (hash tag)."""
    from bridge.ratelimit import ADDRESS_LIMIT, SUBJECT_LIMIT, Rate, RedisGcra
    from bridge.settings.storage import RateSettings

    client = redis_client(RedisSettings(cluster={"nodes": [f"127.0.0.1:{redis_cluster[0].port}"]}))
    redis = SharedRedis(client, prefix=unique_prefix(), cluster=True)
    gcra = RedisGcra(redis)
    rate = Rate.of(RateSettings(per_minute=60, burst=2))
    assert rate is not None
    try:
        answers = [
            await gcra.hit_many(
                [(ADDRESS_LIMIT, "192.0.2.7", rate), (SUBJECT_LIMIT, f"user-{i}", rate)]
            )
            for i in range(3)
        ]
    finally:
        await redis.close()
    assert not redis.down  # no CROSSSLOT error, so no fail-open
    assert [answer is not None and answer[0] == 0 for answer in answers] == [True, True, False]
