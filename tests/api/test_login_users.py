"""``GET /v1/login-users/{login_user_id}/zendesk``: which Zendesk Support users carry a login ID."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
import yarl

from bridge.settings.root import Settings
from tests.conftest import AppClient, ClientFactory, settings
from tests.support.fake_zendesk import LOGIN_USER, SUPPORT_EMAIL, SUPPORT_TOKEN, FakeZendesk, Reply
from tests.support.redis_server import RedisServer, unique_prefix

STAFF_KEY = "staff-key-current-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {STAFF_KEY}"}


def support_settings(
    fake: FakeZendesk,
    *,
    redis_url: str | None = None,
    prefix: str | None = None,
    email: str | None = SUPPORT_EMAIL,
    support: dict[str, Any] | None = None,
    configure_support: bool = True,
) -> Settings:
    sections: dict[str, Any] = {
        "staff": {"api_keys": [{"value": STAFF_KEY}]},
        "redis": {"url": redis_url, "key_prefix": prefix or unique_prefix()},
        "cache": {"visitor_ttl": 300, "negative_ttl": 30},
    }
    if configure_support:
        sections["zendesk_support_api"] = {
            "base_url": fake.url,
            "email": email,
            "token": {"value": SUPPORT_TOKEN},
            **(support or {}),
        }
    return settings(**sections)


@pytest.fixture
async def direct(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


async def linkage(
    client: AppClient, login_user_id: str = LOGIN_USER, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    path = f"/v1/login-users/{login_user_id}/zendesk"
    async with client.get(path, headers=AUTH if headers is None else headers) as response:
        return response.status, await response.json()


async def test_a_linked_login_user_lists_its_zendesk_users(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(support_settings(fake_zendesk))
    status, body = await linkage(client)
    assert status == 200
    assert body == {
        "login_user_id": LOGIN_USER,
        "users": [
            {
                "id": "361834961",
                "name": "Player One",
                "email": "player@example.com",
                "external_id": LOGIN_USER,
                "role": "end-user",
            }
        ],
        "linked": True,
        "source": "zendesk",
    }
    request = fake_zendesk.requests[0]
    assert request.path == "/api/v2/users/search"
    assert request.query == {"external_id": LOGIN_USER}
    pair = f"{SUPPORT_EMAIL}/token:{SUPPORT_TOKEN}".encode()
    assert request.authorization == "Basic " + base64.b64encode(pair).decode()


async def test_without_an_email_the_token_is_sent_as_bearer(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(support_settings(fake_zendesk, email=None))
    assert (await linkage(client))[0] == 200
    assert fake_zendesk.requests[0].authorization == f"Bearer {SUPPORT_TOKEN}"


async def test_an_unlinked_login_user_has_no_users(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(support_settings(fake_zendesk))
    status, body = await linkage(client, "never-seen-in-zendesk")
    assert status == 200
    assert body["users"] == []
    assert body["linked"] is False


async def test_answers_are_cached_in_redis_positive_long_and_empty_short(
    make_client: ClientFactory,
    fake_zendesk: FakeZendesk,
    redis_server: RedisServer,
    direct: aioredis.Redis,
) -> None:
    prefix = unique_prefix()
    client = await make_client(
        support_settings(fake_zendesk, redis_url=redis_server.url, prefix=prefix)
    )
    await linkage(client)
    await linkage(client, "never-seen-in-zendesk")
    assert (await linkage(client))[1]["source"] == "cache"
    assert (await linkage(client, "never-seen-in-zendesk"))[1]["source"] == "cache"
    assert fake_zendesk.calls == 2
    ttls = sorted(
        [await direct.pttl(key) for key in await direct.keys(f"{prefix}:v1:login_user:*")]
    )
    assert len(ttls) == 2
    assert ttls[0] <= 30_000
    assert 290_000 < ttls[1] <= 300_000


async def test_fifty_concurrent_cold_lookups_make_one_zendesk_call(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    fake_zendesk.delay = 0.2
    client = await make_client(support_settings(fake_zendesk))
    answers = await asyncio.gather(*(linkage(client) for _ in range(50)))
    assert {status for status, _ in answers} == {200}
    assert fake_zendesk.calls == 1


async def test_zendesk_errors_are_not_cached(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(support_settings(fake_zendesk))
    fake_zendesk.then(Reply(500, json={}))
    assert (await linkage(client))[0] == 502
    status, body = await linkage(client)
    assert status == 200
    assert body["source"] == "zendesk"


async def test_a_wrong_support_base_url_is_502_not_an_empty_answer(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(support_settings(fake_zendesk))
    fake_zendesk.then(Reply(404, json={"error": "InvalidEndpoint"}))
    assert (await linkage(client))[0] == 502


async def test_zendesk_refusing_our_credentials_is_502_vendor_auth_failed(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    wrong = "our-wrong-support-token-0123456789"
    client = await make_client(support_settings(fake_zendesk, support={"token": {"value": wrong}}))
    status, body = await linkage(client)
    assert status == 502
    assert body["code"] == "vendor_auth_failed"
    assert wrong not in str(body)


async def test_a_hanging_support_api_is_504(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(support_settings(fake_zendesk, support={"deadline": 0.3}))
    fake_zendesk.then(Reply(hang=True))
    assert (await linkage(client))[0] == 504


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer nope-0123456789abcdef0123456789"}]
)
async def test_no_staff_key_is_401_without_a_call(
    headers: dict[str, str], make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(support_settings(fake_zendesk))
    status, body = await linkage(client, headers=headers)
    assert status == 401
    assert body["code"] == "staff_unauthorized"
    assert fake_zendesk.calls == 0


@pytest.mark.parametrize(
    "raw", ["..", "%2e%2e", "a..b", "-x", "a%20b", "a%26external_id%3Dx", "a%0Ab", "x" * 256]
)
async def test_malformed_login_user_id_is_400_without_a_call(
    raw: str, make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(support_settings(fake_zendesk))
    url = yarl.URL(f"{client.make_url('/')}v1/login-users/{raw}/zendesk", encoded=True)
    async with client.session.get(url, headers=AUTH) as response:
        assert response.status == 400
        assert (await response.json())["code"] == "invalid_id"
    assert fake_zendesk.calls == 0


async def test_not_configured_is_503(make_client: ClientFactory, fake_zendesk: FakeZendesk) -> None:
    client = await make_client(support_settings(fake_zendesk, configure_support=False))
    status, body = await linkage(client)
    assert status == 503
    assert body["code"] == "lookup_not_configured"
