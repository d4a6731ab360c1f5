"""The token routes' fast path answers exactly what the application would.

Each test sends the same requests to two gateways built from the same settings: one served as
``bridge serve`` serves it (the fast path in front, the default of ``make_client``) and one
with the application alone. The answers must agree header for header (besides ``Date`` and
the request id), and the fast path must have answered exactly the requests it is meant for:
the common one, once its login token has been verified.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import jwt
import pytest
from multidict import CIMultiDictProxy

from bridge.access import flush_all
from bridge.settings.loading import parse_settings
from bridge.state import DRAINING, FAST_PATH
from tests.conftest import (
    CHAT_SECRET,
    EMAIL,
    MESSAGING_SECRET,
    ORIGIN,
    SUB,
    AppClient,
    ClientFactory,
    Lines,
    config,
    logging_to,
    login_token,
    settings,
)
from tests.support.redis_server import RedisServer, unique_prefix

VARYING = {"date", "x-request-id", "content-length"}


def answered(client: AppClient) -> int:
    return client.app[FAST_PATH].answered


def comparable(headers: CIMultiDictProxy[str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower() not in VARYING}


async def pair(make_client: ClientFactory, **overrides: Any) -> tuple[AppClient, AppClient]:
    s = settings(**overrides)
    return await make_client(s), await make_client(s, fast_path=False)


async def both(
    fast: AppClient, slow: AppClient, path: str, **kwargs: Any
) -> tuple[tuple[int, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]:
    out = []
    for client in (fast, slow):
        async with client.get(path, **kwargs) as response:
            out.append((response.status, comparable(response.headers), await response.read()))
    return out[0], out[1]


def chat_claims(body: bytes) -> dict[str, Any]:

    token = json.loads(body)["token"]
    claims: dict[str, Any] = jwt.decode(token, CHAT_SECRET, algorithms=["HS256"])
    return claims


@pytest.mark.parametrize("origin", [ORIGIN, None, "https://evil.example.net"])
async def test_a_repeated_token_request_is_answered_by_the_fast_path_as_the_app_would(
    make_client: ClientFactory, origin: str | None
) -> None:
    fast, slow = await pair(make_client)
    headers = {"Cookie": f"token={login_token()}"}
    if origin is not None:
        headers["Origin"] = origin
    first, _ = await both(fast, slow, "/generate/token", headers=headers)
    assert first[0] == 200
    assert answered(fast) == 0
    (status, fast_headers, fast_body), (slow_status, slow_headers, slow_body) = await both(
        fast, slow, "/generate/token", headers=headers
    )
    assert answered(fast) == 1
    assert answered(slow) == 0
    assert status == slow_status == 200
    assert fast_headers == slow_headers
    assert ("access-control-allow-origin" in fast_headers) is (origin == ORIGIN)
    for claims in (chat_claims(fast_body), chat_claims(slow_body)):
        assert claims["external_id"] == SUB
        assert claims["email"] == EMAIL
        assert claims["exp"] - claims["iat"] == 300
        assert abs(claims["iat"] - time.time()) <= 2  # signed anew, now


async def test_the_named_target_route_has_the_same_answer(make_client: ClientFactory) -> None:
    fast, slow = await pair(make_client)
    headers = {"Cookie": f"token={login_token()}", "Origin": ORIGIN}
    await both(fast, slow, "/v1/targets/freshdesk/token", headers=headers)
    (status, fast_headers, fast_body), (_, slow_headers, slow_body) = await both(
        fast, slow, "/v1/targets/freshdesk/token", headers=headers
    )
    assert status == 200
    assert answered(fast) == 1
    assert fast_headers == slow_headers

    fast_json, slow_json = json.loads(fast_body), json.loads(slow_body)
    assert fast_json.keys() == slow_json.keys() == {"token", "target", "expires_at"}
    assert fast_json["target"] == "freshdesk"
    assert abs(fast_json["expires_at"] - slow_json["expires_at"]) <= 1


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/generate/token?x=1", {}),  # a query: the app's to answer
        ("/v1/targets/chat/token", {"Accept": "application/jwt"}),
        ("/v1/targets/nope/token", {}),
        ("/generate/token", {"Sec-Fetch-Dest": "script"}),
        ("/generate/token", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}),
    ],
)
async def test_what_is_not_the_common_request_is_the_apps_to_answer(
    make_client: ClientFactory, path: str, extra: dict[str, str]
) -> None:
    fast, slow = await pair(make_client)
    headers = {"Cookie": f"token={login_token()}", "Origin": ORIGIN}
    await both(fast, slow, "/generate/token", headers=headers)  # the token is now known
    before = answered(fast)
    (status, fast_headers, body), (slow_status, slow_headers, slow_body) = await both(
        fast, slow, path, headers={**headers, **extra}
    )
    assert answered(fast) == before
    assert status == slow_status
    assert fast_headers == slow_headers
    if status != 200:
        assert body == slow_body


async def test_refusals_are_the_apps_and_nothing_is_counted_twice(
    make_client: ClientFactory,
) -> None:
    fast, slow = await pair(make_client, rate_limits={"per_subject": {"per_minute": 1, "burst": 3}})
    headers = {"Cookie": f"token={login_token()}"}
    statuses: dict[str, list[int]] = {"fast": [], "slow": []}
    for _ in range(6):
        for name, client in (("fast", fast), ("slow", slow)):
            async with client.get("/generate/token", headers=headers) as response:
                statuses[name].append(response.status)
                if response.status == 429:
                    assert "Retry-After" in response.headers
    assert statuses["fast"] == statuses["slow"] == [200, 200, 200, 429, 429, 429]
    assert answered(fast) == 2  # the second and third; the first was verified by the app


async def test_an_expired_login_token_is_refused_even_once_known(
    make_client: ClientFactory,
) -> None:
    upstream = {**config()["upstream"], "leeway": 0}
    fast = await make_client(settings(upstream=upstream))
    token = login_token(ttl=2)
    headers = {"Cookie": f"token={token}"}
    async with fast.get("/generate/token", headers=headers) as response:
        assert response.status == 200
    await asyncio.sleep(max(0.0, jwt.decode(token, options={"verify_signature": False})["exp"]
                            - time.time() + 0.1))  # fmt: skip
    async with fast.get("/generate/token", headers=headers) as response:
        assert response.status == 401
    assert answered(fast) == 0  # the expiry was checked again, to the second


async def test_a_draining_instance_closes_connections_on_the_apps_answers(
    make_client: ClientFactory,
) -> None:
    fast = await make_client()
    headers = {"Cookie": f"token={login_token()}"}
    async with fast.get("/generate/token", headers=headers) as response:
        assert response.status == 200
    fast.app[DRAINING].set()
    async with fast.get("/generate/token", headers=headers) as response:
        assert response.status == 200
        assert response.headers["Connection"] == "close"
    assert answered(fast) == 0


async def test_a_missing_email_is_the_apps_422(make_client: ClientFactory) -> None:
    fast, slow = await pair(make_client)
    headers = {"Cookie": f"token={login_token(email=None)}"}
    for _ in range(2):
        (status, _fast_headers, body), (slow_status, _slow_headers, slow_body) = await both(
            fast, slow, "/generate/token", headers=headers
        )
        assert status == slow_status == 422
        assert body == slow_body
    assert answered(fast) == 0


async def test_an_unverified_email_is_nobodys_on_the_fast_path_too(
    make_client: ClientFactory,
) -> None:
    fast, slow = await pair(make_client)
    headers = {"Cookie": f"token={login_token(email_verified=False)}"}
    for _ in range(2):  # the second time the token is known: the fast path's to answer
        for path in ("/generate/token", "/v1/targets/freshdesk/token"):  # need an email
            (status, _, body), (slow_status, _, slow_body) = await both(
                fast, slow, path, headers=headers
            )
            assert status == slow_status == 422
            assert body == slow_body
        (status, _, body), (_, _, slow_body) = await both(
            fast, slow, "/v1/targets/messaging/token", headers=headers
        )
        assert status == 200
        for answer in (body, slow_body):
            claims = jwt.decode(json.loads(answer)["token"], MESSAGING_SECRET, algorithms=["HS256"])
            assert "email" not in claims
            assert "email_verified" not in claims
    # the messaging tokens, without the email: the login token was known after the first 422
    assert answered(fast) == 2


async def test_a_subject_prefix_holds_on_the_fast_path(make_client: ClientFactory) -> None:
    upstream = {**config()["upstream"], "subject_prefix": "shop:"}
    fast, slow = await pair(make_client, upstream=upstream)
    headers = {"Cookie": f"token={login_token()}"}
    for _ in range(2):
        (status, _, body), (_, _, slow_body) = await both(
            fast, slow, "/generate/token", headers=headers
        )
        assert status == 200
        assert chat_claims(body)["external_id"] == chat_claims(slow_body)["external_id"]
        assert chat_claims(body)["external_id"] == f"shop:{SUB}"
    assert answered(fast) == 1


async def test_two_people_in_two_login_cookies_are_refused_both_ways(
    make_client: ClientFactory,
) -> None:
    first = {**config()["upstream"], "issuer": "https://a.example", "name": "a"}
    second = {**first, "issuer": "https://b.example", "name": "b", "cookie": "b_token"}
    data = config(upstreams=[first, second])
    del data["upstream"]
    s = parse_settings(data, environ={})
    fast, slow = await make_client(s), await make_client(s, fast_path=False)
    mine = login_token(iss="https://a.example")
    theirs = login_token(iss="https://b.example", sub="someone-else")
    alone = {"Cookie": f"token={mine}"}
    await both(fast, slow, "/generate/token", headers=alone)  # both tokens are known now
    await both(fast, slow, "/generate/token", headers={"Cookie": f"b_token={theirs}"})
    for cookies in (f"token={mine}; b_token={theirs}", f"b_token={theirs}; token={mine}"):
        (status, _, body), (slow_status, _, slow_body) = await both(
            fast, slow, "/generate/token", headers={"Cookie": cookies}
        )
        assert status == slow_status == 401
        assert body == slow_body
        assert json.loads(body)["code"] == "00-01"


async def test_projects_of_one_issuer_are_told_apart_on_the_fast_path_too(
    make_client: ClientFactory,
) -> None:
    a, b = "0f8e8a34-6d9c-4b3a-9d8e-1a2b3c4d5e6f", "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
    base = {**config()["upstream"], "issuer": "https://login.xsolla.com"}
    data = config(upstreams=[
        {**base, "name": "a", "project_id": a, "subject_prefix": "a:"},
        {**base, "name": "b", "project_id": b, "subject_prefix": "b:",
         "secrets": [{"value": "project-b-login-secret-0123456789abcdef01"}]},
    ])  # fmt: skip
    del data["upstream"]
    s = parse_settings(data, environ={})
    fast, slow = await make_client(s), await make_client(s, fast_path=False)
    tokens = {
        "a": login_token(xsolla_login_project_id=a),
        "b": login_token("project-b-login-secret-0123456789abcdef01", xsolla_login_project_id=b),
    }
    for _ in range(2):
        for name, token in tokens.items():
            (status, _, body), (_, _, slow_body) = await both(
                fast, slow, "/generate/token", headers={"Cookie": f"token={token}"}
            )
            assert status == 200
            assert chat_claims(body)["external_id"] == chat_claims(slow_body)["external_id"]
            assert chat_claims(body)["external_id"] == f"{name}:{SUB}"
    assert answered(fast) == 2
    # the same secret, another project: never a cached answer of a's, refused both ways
    stranger = login_token(xsolla_login_project_id="00000000-0000-4000-8000-000000000000")
    for _ in range(2):
        (status, _, body), (slow_status, _, slow_body) = await both(
            fast, slow, "/generate/token", headers={"Cookie": f"token={stranger}"}
        )
        assert status == slow_status == 401
        assert body == slow_body
    assert answered(fast) == 2


async def test_a_fast_answer_has_its_access_line_and_request_id(
    make_client: ClientFactory, log_lines: Lines
) -> None:
    fast = await make_client()
    headers = {"Cookie": f"token={login_token()}", "X-Request-ID": "trace-0123"}
    for _ in range(2):
        async with fast.get("/generate/token", headers=headers) as response:
            assert response.status == 200
            assert response.headers["X-Request-ID"] == "trace-0123"
    async with fast.get("/generate/token", headers={"Cookie": headers["Cookie"]}) as response:
        fresh = response.headers["X-Request-ID"]
        assert len(fresh) == 32
        assert int(fresh, 16) >= 0
    assert answered(fast) == 2
    lines = [line for line in log_lines() if line.get("logger") == "bridge.access"]
    assert len(lines) == 3
    for line in lines:
        assert line["route"] == "/generate/token"
        assert line["status"] == 200
        assert line["subject"] == SUB
        assert line["target"] == "chat"
        assert line["login"] == "default"
        assert line["method"] == "GET"
    assert [line["request_id"] for line in lines] == ["trace-0123", "trace-0123", fresh]


async def test_a_fast_answer_is_counted_in_the_metrics(make_client: ClientFactory) -> None:
    fast = await make_client()
    headers = {"Cookie": f"token={login_token()}"}
    for _ in range(3):
        async with fast.get("/generate/token", headers=headers) as response:
            assert response.status == 200
    assert answered(fast) == 2
    async with fast.get("/metrics") as response:
        text = await response.text()
    assert 'bridge_tokens_minted_total{target="chat"} 3.0' in text
    assert (
        'bridge_http_requests_total{method="GET",route="/generate/token",status="200"} 3.0' in text
    )


async def test_limits_shared_through_redis_are_counted_once_per_request(
    make_client: ClientFactory, killable_redis: RedisServer
) -> None:
    limited = settings(
        rate_limits={"per_subject": {"per_minute": 1, "burst": 3}},
        redis={"url": killable_redis.url, "key_prefix": unique_prefix(), "breaker_cooldown": 0},
    )
    fast = await make_client(limited)
    headers = {"Cookie": f"token={login_token()}"}
    statuses = []
    for _ in range(5):
        async with fast.get("/generate/token", headers=headers) as response:
            statuses.append(response.status)
    assert statuses == [200, 200, 200, 429, 429]
    assert answered(fast) == 2
    killable_redis.kill()  # the limits fail open: the app lets each request through, once
    for _ in range(3):
        async with fast.get("/generate/token", headers=headers) as response:
            assert response.status == 200
    assert answered(fast) == 2
    async with fast.get("/metrics") as response:
        text = await response.text()
    assert 'bridge_rate_limit_events_total{limit="subject",outcome="fail_open"} 3.0' in text


def user(n: int) -> tuple[str, str]:
    return f"batch-user-{n:03d}", f"user{n}@example.com"


#: every test request comes from one address: room for a few hundred at once
ROOMY = {"per_address": {"per_minute": 60_000, "burst": 1_000}}


async def test_concurrent_requests_are_answered_in_batches_each_with_its_own_identity(
    make_client: ClientFactory,
) -> None:
    fast = await make_client(settings(rate_limits=ROOMY))
    cookies = [f"token={login_token(sub=user(n)[0], email=user(n)[1])}" for n in range(100)]

    async def get(cookie: str) -> tuple[int, bytes]:
        async with fast.get("/generate/token", headers={"Cookie": cookie}) as response:
            return response.status, await response.read()

    first = await asyncio.gather(*(get(cookie) for cookie in cookies))  # verified by the app
    assert [status for status, _ in first] == [200] * 100
    assert answered(fast) == 0
    before = fast.app[FAST_PATH].batches
    again = await asyncio.gather(*(get(cookie) for cookie in cookies))
    assert answered(fast) == 100
    batches = fast.app[FAST_PATH].batches - before
    assert 2 <= batches < 100  # at most 64 a batch, and more than one request in some
    for n, (status, body) in enumerate(again):
        assert status == 200
        claims = chat_claims(body)
        assert (claims["external_id"], claims["email"]) == user(n)


async def test_a_batch_hands_what_it_does_not_answer_to_the_app(
    make_client: ClientFactory,
) -> None:
    fast = await make_client(settings(rate_limits=ROOMY))
    known = [f"token={login_token(sub=user(n)[0], email=user(n)[1])}" for n in range(20)]
    for cookie in known:
        async with fast.get("/generate/token", headers={"Cookie": cookie}) as response:
            assert response.status == 200
    others = {
        f"token={login_token('not-the-login-secret-0123456789abcdef')}": 401,
        f"token={login_token(email=None)}": 422,
        f"token={login_token(sub='batch-new-user')}": 200,  # not yet verified: the app's
        "": 401,
    }
    requests = [(cookie, 200) for cookie in known] + list(others.items())

    async def status(cookie: str) -> int:
        async with fast.get("/generate/token", headers={"Cookie": cookie}) as response:
            await response.read()
            return response.status

    statuses = await asyncio.gather(*(status(cookie) for cookie, _ in requests))
    assert statuses == [expected for _, expected in requests]
    assert answered(fast) == len(known)


async def test_concurrent_requests_share_redis_limits_exactly(
    make_client: ClientFactory, killable_redis: RedisServer
) -> None:
    limited = settings(
        rate_limits={**ROOMY, "per_subject": {"per_minute": 1, "burst": 3}},
        redis={"url": killable_redis.url, "key_prefix": unique_prefix()},
    )
    fast = await make_client(limited)
    headers = {"Cookie": f"token={login_token()}"}
    async with fast.get("/generate/token", headers=headers) as response:
        assert response.status == 200

    async def status() -> int:
        async with fast.get("/generate/token", headers=headers) as response:
            await response.read()
            return response.status

    statuses = await asyncio.gather(*(status() for _ in range(8)))
    assert sorted(statuses) == [200, 200] + [429] * 6
    assert answered(fast) == 2


async def test_a_request_refused_in_a_batch_is_the_apps_429_and_the_others_are_answered(
    make_client: ClientFactory,
) -> None:
    limited = {**ROOMY, "per_subject": {"per_minute": 1, "burst": 2}}
    fast = await make_client(settings(rate_limits=limited))
    cookies = [f"token={login_token(sub=user(n)[0], email=user(n)[1])}" for n in range(11)]

    async def status(cookie: str) -> int:
        async with fast.get("/generate/token", headers={"Cookie": cookie}) as response:
            await response.read()
            return response.status

    for cookie in cookies:  # each user's first, verified by the app
        assert await status(cookie) == 200
    assert await status(cookies[0]) == 200  # user 0's second: its burst is spent
    before = answered(fast)
    statuses = await asyncio.gather(*(status(cookie) for cookie in cookies))
    assert statuses == [429] + [200] * 10
    assert answered(fast) == before + 10
    assert await status(cookies[1]) == 429  # the others were counted once each


async def test_a_batch_that_fails_unexpectedly_leaves_its_requests_to_the_app(
    make_client: ClientFactory,
) -> None:
    fast = await make_client()
    headers = {"Cookie": f"token={login_token()}"}
    async with fast.get("/generate/token", headers=headers) as response:
        assert response.status == 200

    def broken(batch: object) -> None:
        raise RuntimeError("a step failed")

    setattr(fast.app[FAST_PATH], "_answer_batch", broken)  # noqa: B010
    statuses = []
    async with asyncio.timeout(10):  # a request left waiting would hang here
        for _ in range(2):
            async with fast.get("/generate/token", headers=headers) as response:
                statuses.append(response.status)
                assert chat_claims(await response.read())["external_id"] == SUB
    assert statuses == [200, 200]  # answered by the app
    assert answered(fast) == 0


@pytest.mark.parametrize("shared", [False, True], ids=["memory-limits", "redis-limits"])
async def test_each_answer_of_a_batch_has_its_own_access_line_on_stdout(
    make_client: ClientFactory, killable_redis: RedisServer, shared: bool
) -> None:
    # stdout's writer (a binary stream) writes a batch's lines from one template per run
    raw = io.BytesIO()
    redis = {"redis": {"url": killable_redis.url, "key_prefix": unique_prefix()}} if shared else {}
    with logging_to(io.TextIOWrapper(raw, write_through=True)):
        fast = await make_client(settings(rate_limits=ROOMY, **redis))
        paths = ["/generate/token", "/v1/targets/chat/token"]
        cookies = [f"token={login_token(sub=user(n)[0], email=user(n)[1])}" for n in range(40)]
        for cookie in cookies:  # verified by the app
            async with fast.get(paths[0], headers={"Cookie": cookie}) as response:
                assert response.status == 200

        async def get(n: int) -> tuple[str, str]:
            headers = {"Cookie": cookies[n % 40]}
            async with fast.get(paths[n % 2], headers=headers) as response:
                assert response.status == 200
                return response.headers["X-Request-ID"], paths[n % 2]

        answers = await asyncio.gather(*(get(n) for n in range(80)))
        assert answered(fast) == 80
        flush_all()
    lines = [json.loads(line) for line in raw.getvalue().splitlines()]
    access = {line["request_id"]: line for line in lines if line["logger"] == "bridge.access"}
    for n, (request_id, path) in enumerate(answers):
        line = access[request_id]
        route = "/generate/token" if path == paths[0] else "/v1/targets/{name}/token"
        assert (line["route"], line["status"], line["method"]) == (route, 200, "GET")
        assert (line["subject"], line["target"], line["login"]) == (
            user(n % 40)[0],
            "chat",
            "default",
        )
        assert 0 <= line["duration_ms"] < 10_000
        assert line["level"] == "info"
        assert line["pid"] > 0
    assert len(access) == 40 + 80
