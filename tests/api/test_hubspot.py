"""The ``hubspot`` broker through HTTP, in front of a fake HubSpot on a loopback port: the
token HubSpot issued, reused per user (in process and in a real Redis), one call for many
concurrent first requests, and HubSpot's trouble answered like the Zendesk lookups'."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bridge.settings.loading import parse_settings
from bridge.settings.root import Settings
from tests.conftest import EMAIL, AppClient, ClientFactory, Lines, config, login_token
from tests.support.fake_hubspot import ACCESS_TOKEN, CREATE_PATH, FakeHubSpot
from tests.support.fake_zendesk import Reply
from tests.support.prom import scrape, value
from tests.support.redis_server import RedisServer, unique_prefix

PATH = "/v1/targets/hubspot/token"
TWELVE_HOURS = 43200


def hubspot_settings(fake: FakeHubSpot, *, redis_url: str | None = None, **target: Any) -> Settings:
    data = config(rate_limits={"per_address": None, "per_subject": None})
    data["targets"]["hubspot"] = {
        "type": "hubspot",
        "access_token": {"value": ACCESS_TOKEN},
        "api_base_url": fake.url,
        **target,
    }
    if redis_url is not None:
        # generous timeouts: on a busy machine a slow Redis would fail open (more calls)
        data["redis"] = {
            "url": redis_url,
            "key_prefix": unique_prefix(),
            "socket_timeout": 5,
            "connect_timeout": 5,
        }
    return parse_settings(data, environ={})


def cookie(**claims: Any) -> dict[str, str]:
    return {"Cookie": f"token={login_token(**claims)}"}


async def token(client: AppClient, **claims: Any) -> tuple[int, Any, float]:
    started = time.perf_counter()
    response = await client.get(PATH, headers=cookie(**claims))
    body = await response.json()
    return response.status, body, time.perf_counter() - started


async def test_the_answer_is_the_token_hubspot_issued_for_the_login_email(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot
) -> None:
    client = await make_client(hubspot_settings(fake_hubspot))
    before = int(time.time())
    response = await client.get(PATH, headers=cookie(given_name="Ann", family_name="Lee"))
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert set(body) == {"token", "target", "expires_at", "email"}
    assert (body["token"], body["target"], body["email"]) == ("hs-token-1", "hubspot", EMAIL)
    # reused for at most 12 hours less the margin, never up to HubSpot's own end
    assert before + TWELVE_HOURS - 3600 < body["expires_at"] < before + TWELVE_HOURS
    [call] = fake_hubspot.requests
    assert call.path == CREATE_PATH
    assert call.authorization == f"Bearer {ACCESS_TOKEN}"
    assert call.body == {"email": EMAIL, "firstName": "Ann", "lastName": "Lee"}


async def test_the_display_name_is_split_when_there_are_no_name_claims(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot
) -> None:
    client = await make_client(hubspot_settings(fake_hubspot))
    status, _, _ = await token(client, name="Ann Marie Lee")
    assert status == 200
    assert fake_hubspot.requests[0].body == {
        "email": EMAIL, "firstName": "Ann", "lastName": "Marie Lee",
    }  # fmt: skip


async def test_accept_jwt_still_answers_json_for_hubspot(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot
) -> None:
    client = await make_client(hubspot_settings(fake_hubspot))
    headers = {**cookie(), "Accept": "application/jwt"}
    response = await client.get(PATH, headers=headers)
    assert response.content_type == "application/json"
    assert (await response.json())["token"] == "hs-token-1"


async def test_without_an_email_it_is_422_and_hubspot_is_not_called(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot
) -> None:
    client = await make_client(hubspot_settings(fake_hubspot))
    status, body, _ = await token(client, email=None)
    assert (status, body["code"]) == (422, "00-03")
    assert fake_hubspot.calls == 0


async def test_repeated_requests_of_one_user_reuse_one_token(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot
) -> None:
    client = await make_client(hubspot_settings(fake_hubspot))
    answers = [await token(client) for _ in range(10)]
    assert {body["token"] for _, body, _ in answers} == {"hs-token-1"}
    assert len({body["expires_at"] for _, body, _ in answers}) == 1
    assert fake_hubspot.calls == 1


async def test_each_user_gets_their_own_token(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot
) -> None:
    client = await make_client(hubspot_settings(fake_hubspot))
    _, first, _ = await token(client)
    _, other, _ = await token(client, sub="someone-else", email="else@example.com")
    _, changed, _ = await token(client, email="new@example.com")  # same sub, new email
    assert len({first["token"], other["token"], changed["token"]}) == 3
    assert (other["email"], changed["email"]) == ("else@example.com", "new@example.com")
    assert fake_hubspot.calls == 3


async def test_concurrent_first_requests_of_one_user_make_one_call(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot
) -> None:
    fake_hubspot.delay = 0.2
    client = await make_client(hubspot_settings(fake_hubspot))
    answers = await asyncio.gather(*(token(client) for _ in range(50)))
    assert {(status, body["token"]) for status, body, _ in answers} == {(200, "hs-token-1")}
    assert fake_hubspot.calls == 1


async def test_a_token_is_asked_for_again_once_its_reuse_ends(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot
) -> None:
    client = await make_client(hubspot_settings(fake_hubspot, ttl=1))
    _, first, _ = await token(client)
    _, still, _ = await token(client)
    assert still["token"] == first["token"] == "hs-token-1"
    await asyncio.sleep(1.1)
    _, fresh, _ = await token(client)
    assert fresh["token"] == "hs-token-2"
    assert fresh["expires_at"] > first["expires_at"]
    assert fake_hubspot.calls == 2


async def test_a_ttl_above_hubspots_twelve_hours_is_clamped(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot
) -> None:
    client = await make_client(hubspot_settings(fake_hubspot, ttl=TWELVE_HOURS))
    before = int(time.time())
    _, body, _ = await token(client)
    assert body["expires_at"] < before + TWELVE_HOURS


async def test_two_gateways_sharing_redis_make_one_call_and_share_the_token(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot, redis_server: RedisServer
) -> None:
    fake_hubspot.delay = 0.2
    shared = hubspot_settings(fake_hubspot, redis_url=redis_server.url)
    first, second = await make_client(shared), await make_client(shared)
    answers = await asyncio.gather(*(token(c) for c in (first, second) * 10))
    assert {body["token"] for _, body, _ in answers} == {"hs-token-1"}
    assert fake_hubspot.calls == 1
    third = await make_client(shared)  # a fresh process: the token comes from Redis
    _, again, _ = await token(third)
    assert again["token"] == "hs-token-1"
    assert fake_hubspot.calls == 1


async def test_a_dead_redis_makes_hubspot_calls_not_errors(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot, killable_redis: RedisServer
) -> None:
    client = await make_client(hubspot_settings(fake_hubspot, redis_url=killable_redis.url))
    killable_redis.kill()
    statuses = [(await token(client))[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert 1 <= fake_hubspot.calls <= 3


# --- HubSpot's trouble: the lookups' vendor_* answers, within the deadline ---


@pytest.mark.parametrize(
    ("reply", "status", "code"),
    [
        (Reply(401, json={"category": "INVALID_AUTHENTICATION"}), 502, "vendor_auth_failed"),
        (Reply(403, json={"category": "MISSING_SCOPES"}), 502, "vendor_auth_failed"),
        (Reply(200, json={"tok": "x"}), 502, "vendor_bad_response"),
        (Reply(200, json={"token": "has spaces"}), 502, "vendor_bad_response"),
        (Reply.html(), 502, "vendor_bad_response"),
        (Reply.redirect("/elsewhere"), 502, "vendor_bad_response"),
    ],
)
async def test_hubspot_refusals_and_bad_answers_are_502_without_retries(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot, reply: Reply, status: int, code: str
) -> None:
    client = await make_client(hubspot_settings(fake_hubspot))
    fake_hubspot.then(reply)
    got, body, _ = await token(client)
    assert (got, body["code"]) == (status, code)
    assert fake_hubspot.calls == 1
    # never cached: the next request asks again, and succeeds
    assert (await token(client))[0] == 200
    assert fake_hubspot.calls == 2


async def test_a_429_with_a_long_retry_after_is_503_at_once_with_that_retry_after(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot
) -> None:
    client = await make_client(hubspot_settings(fake_hubspot))
    fake_hubspot.then(Reply.retry_after("30"))
    response = await client.get(PATH, headers=cookie())
    assert response.status == 503
    assert (await response.json())["code"] == "vendor_rate_limited"
    assert response.headers["Retry-After"] == "30"
    assert fake_hubspot.calls == 1


async def test_a_429_with_a_short_retry_after_is_waited_out(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot
) -> None:
    client = await make_client(hubspot_settings(fake_hubspot))
    fake_hubspot.then(Reply.retry_after("1"))
    status, body, elapsed = await token(client)
    assert (status, body["token"]) == (200, "hs-token-1")
    assert 1.0 <= elapsed < 3.0
    assert fake_hubspot.calls == 2


@pytest.mark.parametrize("failing", [500, 502, 503, 504])
async def test_hubspot_5xx_is_retried_then_503(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot, failing: int
) -> None:
    client = await make_client(hubspot_settings(fake_hubspot))
    fake_hubspot.then(*[Reply(failing, json={"status": "error"})] * 3)
    status, body, _ = await token(client)
    retried = failing in (502, 503, 504)
    assert (status, body["code"]) == (
        (503, "vendor_unavailable") if retried else (502, "vendor_bad_response")
    )
    assert fake_hubspot.calls == (3 if retried else 1)


async def test_a_hanging_hubspot_is_504_at_the_deadline(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot
) -> None:
    client = await make_client(hubspot_settings(fake_hubspot, deadline=0.5))
    fake_hubspot.then(Reply(hang=True))
    status, body, elapsed = await token(client)
    assert (status, body["code"]) == (504, "vendor_timeout")
    assert 0.5 <= elapsed < 1.5


async def test_an_unreachable_hubspot_is_503_within_the_deadline(
    make_client: ClientFactory,
) -> None:
    data = config()
    data["targets"]["hubspot"] = {
        "type": "hubspot",
        "access_token": {"value": ACCESS_TOKEN},
        "api_base_url": "http://127.0.0.1:9",
        "deadline": 1.0,
    }
    client = await make_client(parse_settings(data, environ={}))
    status, body, elapsed = await token(client)
    assert (status, body["code"]) == (503, "vendor_unavailable")
    assert elapsed < 1.5


async def test_repeated_failures_open_the_breaker(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot
) -> None:
    client = await make_client(hubspot_settings(fake_hubspot))
    fake_hubspot.then(*[Reply(500, json={})] * 5)
    for _ in range(5):
        assert (await token(client))[0] == 502
    status, body, elapsed = await token(client)
    assert (status, body["code"]) == (503, "vendor_circuit_open")
    assert fake_hubspot.calls == 5  # the open breaker called nothing
    assert elapsed < 0.5


async def test_the_access_token_and_hubspot_token_never_reach_the_logs(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot, log_stream: Any
) -> None:
    client = await make_client(hubspot_settings(fake_hubspot))
    fake_hubspot.then(Reply(401, json={}))
    await token(client)
    await token(client)
    from bridge.access import flush_all

    flush_all()
    text = log_stream.getvalue()
    assert ACCESS_TOKEN not in text
    assert "hs-token-1" not in text
    assert "vendor_401" in text  # the refusal was logged, by its reason only


async def test_hubspot_calls_are_counted_and_logged_as_hubspot_not_zendesk(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot, log_lines: Lines
) -> None:
    client = await make_client(hubspot_settings(fake_hubspot))
    fake_hubspot.then(Reply(401, json={}))
    assert (await token(client))[0] == 502
    assert (await token(client, sub="someone-else"))[0] == 200
    samples = await scrape(client)
    calls = {"vendor": "hubspot", "api": "visitor_identification"}
    assert value(samples, "bridge_vendor_requests_total", **calls, status="401") == 1
    assert value(samples, "bridge_vendor_requests_total", **calls, status="200") == 1
    assert value(samples, "bridge_vendor_breaker_state", **calls) == 0
    assert not [key for key in samples if dict(key[1]).get("vendor") == "zendesk"]
    # the deprecated series keep HubSpot's calls where they were counted before
    assert value(samples, "bridge_zendesk_requests_total", api="hubspot", status="200") == 1
    refusals = [line for line in log_lines() if "refused the API credentials" in line["event"]]
    assert [line["logger"] for line in refusals] == ["bridge.hubspot"]


async def test_the_development_stand_in_serves_the_gateway_like_hubspot(
    make_client: ClientFactory, aiohttp_server: Any
) -> None:
    from bridge.dev.hubspot import ACCESS_TOKEN as DEV_TOKEN
    from bridge.dev.hubspot import FakeHubSpot as DevHubSpot

    server = await aiohttp_server(DevHubSpot().app)
    data = config()
    data["targets"]["hubspot"] = {
        "type": "hubspot",
        "access_token": {"value": DEV_TOKEN},
        "api_base_url": str(server.make_url("/")).rstrip("/"),
    }
    client = await make_client(parse_settings(data, environ={}))
    status, body, _ = await token(client)
    assert status == 200
    assert body["token"] == "hs-token-1"
    assert (await token(client))[1]["token"] == body["token"]  # reused
    data["targets"]["hubspot"]["access_token"] = {"value": "pat-wrong"}
    wrong = await make_client(parse_settings(data, environ={}))
    status, body, _ = await token(wrong)
    assert (status, body["code"]) == (502, "vendor_auth_failed")
