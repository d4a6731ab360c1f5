"""/readyz: ready while this instance can mint tokens.

Redis is a cache, so its outage is reported in the body and in ``bridge_redis_up`` but keeps
the instance ready (a real Redis server, killed and started again). Published login keys that
were never obtained make it 503 (a real key server that fails, then answers).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pytest_aiohttp import AiohttpServer

from bridge.settings.loading import parse_settings
from bridge.state import DRAINING, RETIRING
from tests.conftest import AppClient, ClientFactory, config, login_token, settings
from tests.support.prom import parse, value
from tests.support.redis_server import RedisServer
from tests.support.tokens import jwks, rsa_jwk, rsa_key, start_key_server


async def ready(client: AppClient) -> tuple[int, dict[str, Any]]:
    async with client.get("/readyz") as response:
        body: dict[str, Any] = await response.json()
        return response.status, body


async def redis_up_gauge(client: AppClient) -> float:
    async with client.get("/metrics") as response:
        return value(parse(await response.text()), "bridge_redis_up")


async def token_status(client: AppClient) -> int:
    client.session.cookie_jar.update_cookies({"token": login_token()})
    async with client.get("/generate/token") as response:
        return response.status


async def until_redis(client: AppClient, state: str, within: float = 5.0) -> dict[str, Any]:
    give_up = time.monotonic() + within
    while True:
        status, body = await ready(client)
        assert status == 200, body
        if body["redis"] == state:
            return body
        assert time.monotonic() < give_up, f"/readyz never said redis {state}: {body}"
        await asyncio.sleep(0.05)


async def test_without_redis_ready_says_so(client: AppClient) -> None:
    assert await ready(client) == (200, {"status": "ok", "redis": "none"})


async def test_a_redis_outage_is_reported_but_the_instance_stays_ready(
    make_client: ClientFactory, killable_redis: RedisServer
) -> None:
    client = await make_client(settings(redis={"url": killable_redis.url, "breaker_cooldown": 0.2}))
    assert await until_redis(client, "up") == {"status": "ok", "redis": "up"}
    assert await redis_up_gauge(client) == 1

    killable_redis.kill()
    started = time.monotonic()
    assert await until_redis(client, "down") == {"status": "ok", "redis": "down"}
    assert time.monotonic() - started < 2  # the ping is bounded by redis.op_timeout
    assert await redis_up_gauge(client) == 0
    assert await token_status(client) == 200  # tokens never need Redis

    killable_redis.start()
    await until_redis(client, "up")
    assert await redis_up_gauge(client) == 1


async def test_rs_keys_never_obtained_is_503_until_they_are(
    make_client: ClientFactory, aiohttp_server: AiohttpServer
) -> None:
    keys = await start_key_server(aiohttp_server, jwks(rsa_jwk(rsa_key(0), "login-1")))
    body, keys.status = keys.body, 503
    upstream = {"algorithms": ["RS256"], "keys_url": keys.url, "keys_refresh_cooldown": 1}
    data = config(upstream=upstream)
    del data["targets"]["zipchat"]
    client = await make_client(parse_settings(data, environ={}))

    status, answer = await ready(client)
    assert status == 503
    assert answer["code"] == "upstream_keys_unavailable"
    assert keys.requests >= 1  # the probe itself asked for the keys

    keys.status, keys.body = 200, body
    give_up = time.monotonic() + 5
    while (await ready(client))[0] != 200:
        assert time.monotonic() < give_up, "the keys were never fetched again"
        await asyncio.sleep(0.2)
    # keys obtained once stay good enough: a failing key server does not unready the instance
    keys.status = 503
    assert (await ready(client))[0] == 200


async def test_a_worker_replaced_by_a_reload_stays_ready_while_it_closes(
    client: AppClient,
) -> None:
    client.app[RETIRING].set()
    client.app[DRAINING].set()
    status, _ = await ready(client)
    assert status == 200
    client.app[RETIRING].clear()
    status, body = await ready(client)
    assert (status, body["code"]) == (503, "draining")
