"""Rate limits through HTTP: 429 with Retry-After, per address, per subject, per staff key."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bridge.ratelimit import ADDRESS_LIMIT, STAFF_LIMIT, SUBJECT_LIMIT
from bridge.settings.loading import parse_settings
from tests.conftest import ORIGIN, SUB, AppClient, ClientFactory, config, login_token
from tests.support.fake_zendesk import CHAT_TOKEN, FakeZendesk
from tests.support.prom import scrape
from tests.support.redis_server import RedisServer, unique_prefix

#: the token requests as first requests and as repeats (tests.support.ways)
pytestmark = pytest.mark.both_ways

STAFF_KEY = "staff-key-for-rate-limit-tests-0123"
OTHER_STAFF_KEY = "another-staff-key-for-the-tests-4567"
VISITOR = "9855790.xjj3ukxyIhn6j3"
OFF = None


async def rate_events(client: AppClient, outcome: str) -> dict[str, int]:
    """``bridge_rate_limit_events_total`` by limit, for one outcome, as the scrape shows it."""
    samples = await scrape(client)
    found: dict[str, int] = {}
    for (name, labels), count in samples.items():
        tags = dict(labels)
        if name == "bridge_rate_limit_events_total" and tags["outcome"] == outcome and count:
            found[tags["limit"]] = int(count)
    return found


def limited_settings(
    *,
    per_address: Any = OFF,
    per_subject: Any = OFF,
    per_staff_key: Any = OFF,
    redis_url: str | None = None,
    **extra: Any,
) -> Any:
    data = config(
        rate_limits={
            "per_address": per_address,
            "per_subject": per_subject,
            "per_staff_key": per_staff_key,
            **extra,
        },
        redis={"url": redis_url, "key_prefix": unique_prefix(), "breaker_cooldown": 0},
        staff={"api_keys": [{"value": STAFF_KEY}, {"value": OTHER_STAFF_KEY}]},
    )
    return parse_settings(data, environ={})


def cookie(token: str | None = None) -> dict[str, str]:
    return {"Cookie": f"token={token or login_token()}"}


async def statuses(client: AppClient, n: int, **kwargs: Any) -> list[int]:
    found = []
    for _ in range(n):
        response = await client.get("/generate/token", **kwargs)
        found.append(response.status)
        await response.release()
    return found


async def test_over_the_address_limit_is_429_with_retry_after(
    make_client: ClientFactory,
) -> None:
    client = await make_client(limited_settings(per_address={"per_minute": 2, "burst": 3}))
    assert await statuses(client, 3, headers=cookie()) == [200, 200, 200]
    response = await client.get("/generate/token", headers=cookie())
    assert response.status == 429
    assert await response.json() == {"code": "rate_limited", "description": "Too many requests"}
    assert response.headers["Retry-After"] == "30"
    assert response.headers["Cache-Control"] == "no-store"
    assert await rate_events(client, "limited") == {ADDRESS_LIMIT: 1}


async def test_invalid_tokens_count_against_the_address(make_client: ClientFactory) -> None:
    """Guessing tokens from one address is slowed down like anything else."""
    client = await make_client(limited_settings(per_address={"per_minute": 1, "burst": 5}))
    forged = login_token("an-attacker-secret-0123456789abcdef012345")
    assert await statuses(client, 5, headers=cookie(forged)) == [401] * 5
    assert await statuses(client, 2, headers=cookie()) == [429, 429]


async def test_a_listed_origin_can_read_the_429(make_client: ClientFactory) -> None:
    client = await make_client(limited_settings(per_address={"per_minute": 1, "burst": 1}))
    await statuses(client, 1)
    response = await client.get("/generate/token", headers={"Origin": ORIGIN})
    assert response.status == 429
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]


async def test_the_subject_limit_follows_the_login_user_across_addresses(
    make_client: ClientFactory,
) -> None:
    client = await make_client(
        limited_settings(
            per_address={"per_minute": 1000, "burst": 1000},
            per_subject={"per_minute": 1, "burst": 2},
            trusted_proxies=["127.0.0.0/8"],
        )
    )
    answers = []
    for i in range(3):
        headers = {**cookie(), "X-Forwarded-For": f"203.0.113.{i}"}
        response = await client.get("/v1/targets/messaging/token", headers=headers)
        answers.append(response.status)
    assert answers == [200, 200, 429]
    other = await client.get("/generate/token", headers=cookie(login_token(sub="someone-else")))
    assert other.status == 200
    assert await rate_events(client, "limited") == {SUBJECT_LIMIT: 1}


async def test_forwarded_for_from_an_untrusted_peer_does_not_dodge_the_limit(
    make_client: ClientFactory,
) -> None:
    client = await make_client(limited_settings(per_address={"per_minute": 1, "burst": 2}))
    answers = []
    for i in range(4):
        headers = {**cookie(), "X-Forwarded-For": f"198.51.100.{i}", "X-Real-IP": f"192.0.2.{i}"}
        response = await client.get("/generate/token", headers=headers)
        answers.append(response.status)
    assert answers == [200, 200, 429, 429]


async def test_an_untrusted_proxy_is_named_in_one_warning(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Behind a proxy missing from trusted_proxies every client shares the proxy's count: the
    operator hears of it once, from the first request that carries a forwarding header."""
    client = await make_client(limited_settings(per_address={"per_minute": 60, "burst": 60}))
    with caplog.at_level(logging.WARNING, logger="bridge.ratelimit"):
        assert await statuses(client, 2, headers=cookie()) == [200, 200]
        assert caplog.records == []
        for header in ("X-Forwarded-For", "X-Forwarded-For", "Forwarded"):
            value = "203.0.113.9" if header != "Forwarded" else "for=203.0.113.9"
            response = await client.get("/generate/token", headers={**cookie(), header: value})
            assert response.status == 200
    [warning] = caplog.records
    assert "127.0.0.1" in warning.getMessage()
    assert "rate_limits.trusted_proxies" in warning.getMessage()
    assert "203.0.113.9" not in caplog.text


async def test_behind_a_trusted_proxy_each_client_has_its_own_count(
    make_client: ClientFactory,
) -> None:
    client = await make_client(
        limited_settings(per_address={"per_minute": 1, "burst": 1}, trusted_proxies=["127.0.0.1"])
    )
    first = [
        (await client.get("/generate/token", headers={**cookie(), "X-Forwarded-For": ip})).status
        for ip in ("203.0.113.1", "203.0.113.2", "203.0.113.1")
    ]
    assert first == [200, 200, 429]


async def test_the_subject_is_not_counted_for_a_forged_token(make_client: ClientFactory) -> None:
    client = await make_client(limited_settings(per_subject={"per_minute": 1, "burst": 1}))
    forged = login_token("an-attacker-secret-0123456789abcdef012345")  # same sub as the victim
    assert await statuses(client, 3, headers=cookie(forged)) == [401] * 3
    assert await statuses(client, 1, headers=cookie()) == [200]


def staff_settings_with(fake_zendesk: FakeZendesk, **limits: Any) -> Any:
    return parse_settings(
        config(
            rate_limits={"per_address": OFF, "per_subject": OFF, **limits},
            staff={"api_keys": [{"value": STAFF_KEY}, {"value": OTHER_STAFF_KEY}]},
            zendesk_chat_api={"base_url": fake_zendesk.chat_url, "token": {"value": CHAT_TOKEN}},
        ),
        environ={},
    )


async def test_each_staff_key_has_its_own_lookup_limit(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(
        staff_settings_with(fake_zendesk, per_staff_key={"per_minute": 1, "burst": 2})
    )

    async def lookup(key: str) -> int:
        response = await client.get(
            f"/v1/visitors/{VISITOR}", headers={"Authorization": f"Bearer {key}"}
        )
        await response.release()
        return response.status

    assert [await lookup(STAFF_KEY) for _ in range(3)] == [200, 200, 429]
    assert await lookup(OTHER_STAFF_KEY) == 200
    response = await client.get(
        f"/v1/visitors/{VISITOR}", headers={"Authorization": f"Bearer {STAFF_KEY}"}
    )
    assert response.status == 429
    assert (await response.json())["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) == 60
    assert await rate_events(client, "limited") == {STAFF_LIMIT: 2}


async def test_wrong_staff_keys_are_refused_before_any_limit(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(
        staff_settings_with(fake_zendesk, per_staff_key={"per_minute": 1, "burst": 1})
    )
    for _ in range(3):
        response = await client.get(
            f"/v1/visitors/{VISITOR}", headers={"Authorization": "Bearer wrong-key-000000000000"}
        )
        assert response.status == 401
    assert await rate_events(client, "limited") == {}


async def test_two_gateways_sharing_redis_share_the_limits(
    make_client: ClientFactory, redis_server: RedisServer
) -> None:
    app_settings = limited_settings(
        per_subject={"per_minute": 1, "burst": 2}, redis_url=redis_server.url
    )
    gateways = [await make_client(app_settings), await make_client(app_settings)]
    answers = []
    for i in range(4):
        response = await gateways[i % 2].get("/generate/token", headers=cookie())
        answers.append(response.status)
    assert answers == [200, 200, 429, 429]


async def test_redis_down_fails_open_counts_and_logs(
    make_client: ClientFactory, killable_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(
        limited_settings(per_subject={"per_minute": 1, "burst": 1}, redis_url=killable_redis.url)
    )
    assert await statuses(client, 2, headers=cookie()) == [200, 429]
    killable_redis.kill()
    with caplog.at_level(logging.WARNING, logger="bridge.redis"):
        assert await statuses(client, 3, headers=cookie()) == [200, 200, 200]
    assert (await rate_events(client, "fail_open"))[SUBJECT_LIMIT] == 3
    assert [r.name for r in caplog.records if r.levelno >= logging.WARNING] == ["bridge.redis"]
    assert SUB not in caplog.text
    killable_redis.start()
    assert await statuses(client, 2, headers=cookie(login_token(sub="fresh"))) == [200, 429]


async def test_a_request_refused_for_its_subject_does_not_use_the_address_allowance(
    make_client: ClientFactory,
) -> None:
    client = await make_client(
        limited_settings(
            per_address={"per_minute": 1, "burst": 3}, per_subject={"per_minute": 1, "burst": 1}
        )
    )
    answers = []
    for sub in ("a", "a", "b", "c", "d"):
        response = await client.get("/generate/token", headers=cookie(login_token(sub=sub)))
        answers.append(response.status)
    assert answers == [200, 429, 200, 200, 429]
    assert await rate_events(client, "limited") == {SUBJECT_LIMIT: 1, ADDRESS_LIMIT: 1}
