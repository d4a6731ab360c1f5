"""More of what the fast way must answer exactly as the application does (the differential
tests of ``test_fastpath.py``, for the cases they do not cover): an unexpected error, a target
with more answer members, several login systems, HTTP/1.0 and trusted proxies.

Where the token is not in an answer (an error, ``hmac_identity``'s HMAC of the email), the
bodies are compared byte for byte.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from bridge.settings.loading import parse_settings
from tests.api.test_fastpath import answered, both, chat_claims, comparable, pair
from tests.conftest import (
    EMAIL,
    ORIGIN,
    SUB,
    AppClient,
    ClientFactory,
    Lines,
    config,
    login_token,
    settings,
)

HELPSCOUT_SECRET = "api-test-help-scout-identity-secret"


class ClockStopped(RuntimeError):
    pass


def stopped_clock() -> float:
    """A signer's clock that fails: minting raises what nobody expected."""
    raise ClockStopped("the clock stopped")


@pytest.mark.parametrize("path", ["/generate/token", "/v1/targets/freshdesk/token"])
@pytest.mark.parametrize("origin", [ORIGIN, None])
async def test_an_unexpected_error_is_the_same_json_500_either_way(
    make_client: ClientFactory, log_lines: Lines, path: str, origin: str | None
) -> None:
    s = settings()
    fast = await make_client(s, clock=stopped_clock)
    slow = await make_client(s, fast_path=False, clock=stopped_clock)
    headers = {"Cookie": f"token={login_token()}", "X-Request-ID": "trace-500"}
    if origin is not None:
        headers["Origin"] = origin
    first, _ = await both(fast, slow, path, headers=headers)  # the app verifies the token
    assert first[0] == 500
    assert answered(fast) == 0
    (status, fast_headers, body), (slow_status, slow_headers, slow_body) = await both(
        fast, slow, path, headers=headers
    )
    assert answered(fast) == 1  # the fast way made this one
    assert status == slow_status == 500
    assert body == slow_body
    assert json.loads(body) == {"code": "internal_error", "description": "Internal error"}
    assert fast_headers == slow_headers
    assert ("access-control-allow-origin" in fast_headers) is (origin == ORIGIN)
    lines = log_lines()
    access = [line for line in lines if line.get("logger") == "bridge.access"]
    assert len(access) == 4
    route = "/generate/token" if path == "/generate/token" else "/v1/targets/{name}/token"
    for line in access:
        assert (line["status"], line["route"], line["request_id"]) == (500, route, "trace-500")
        assert (line["subject"], line["login"]) == (SUB, "default")
    errors = [line for line in lines if line.get("logger") == "bridge.errors"]
    assert len(errors) == 4
    assert all("ClockStopped" in json.dumps(line) for line in errors)


def with_helpscout() -> dict[str, Any]:
    data = config()
    data["targets"]["helpscout"] = {
        "type": "hmac_identity",
        "vendor": "helpscout",
        "secret": {"value": HELPSCOUT_SECRET},
    }
    return data


async def test_a_target_with_more_answer_members_answers_byte_for_byte(
    make_client: ClientFactory,
) -> None:
    s = parse_settings(with_helpscout(), environ={})
    fast, slow = await make_client(s), await make_client(s, fast_path=False)
    headers = {"Cookie": f"token={login_token()}", "Origin": ORIGIN}
    await both(fast, slow, "/v1/targets/helpscout/token", headers=headers)
    (status, fast_headers, body), (_, slow_headers, slow_body) = await both(
        fast, slow, "/v1/targets/helpscout/token", headers=headers
    )
    assert answered(fast) == 1
    assert status == 200
    assert body == slow_body
    assert fast_headers == slow_headers
    answer = json.loads(body)
    assert answer["target"] == "helpscout"
    assert len(answer) > 3  # what was signed, besides token, target and expiry
    assert EMAIL in body.decode()


async def test_a_target_with_no_email_to_sign_is_the_same_422_either_way(
    make_client: ClientFactory,
) -> None:
    s = parse_settings(with_helpscout(), environ={})
    fast, slow = await make_client(s), await make_client(s, fast_path=False)
    headers = {"Cookie": f"token={login_token(email=None)}"}
    await both(fast, slow, "/generate/token", headers=headers)
    outcomes = await both(fast, slow, "/v1/targets/helpscout/token", headers=headers)
    (status, fast_headers, body), (slow_status, slow_headers, slow_body) = outcomes
    assert status == slow_status == 422
    assert body == slow_body
    assert fast_headers == slow_headers


async def test_several_login_systems_with_one_cookie_take_the_fast_way(
    make_client: ClientFactory, log_lines: Lines
) -> None:
    first = {**config()["upstream"], "issuer": "https://a.example", "name": "a"}
    second = {**first, "issuer": "https://b.example", "name": "b"}
    data = config(upstreams=[first, second])
    del data["upstream"]
    s = parse_settings(data, environ={})
    fast, slow = await make_client(s), await make_client(s, fast_path=False)
    # minted once: the repeat must carry the very same tokens (a new second would mint others)
    tokens = {
        sub: login_token(iss=issuer, sub=sub)
        for issuer, sub in (("https://a.example", "user-a"), ("https://b.example", "user-b"))
    }
    for _ in range(2):
        for sub, token in tokens.items():
            headers = {"Cookie": f"token={token}"}
            (status, fast_headers, body), (_, slow_headers, slow_body) = await both(
                fast, slow, "/generate/token", headers=headers
            )
            assert status == 200
            assert fast_headers == slow_headers
            assert chat_claims(body)["external_id"] == chat_claims(slow_body)["external_id"]
            assert chat_claims(body)["external_id"] == sub
    assert answered(fast) == 2
    logins = [line["login"] for line in log_lines() if line.get("logger") == "bridge.access"]
    assert sorted(logins) == ["a"] * 4 + ["b"] * 4


async def get_http_1_0(
    client: AppClient, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession(version=aiohttp.HttpVersion10) as session,
        session.get(client.make_url(path), headers=headers) as response,
    ):
        assert response.version == aiohttp.HttpVersion10
        return response.status, comparable(response.headers), await response.read()


async def test_http_1_0_is_answered_alike(make_client: ClientFactory) -> None:
    fast, slow = await pair(make_client)
    headers = {"Cookie": f"token={login_token()}", "Origin": ORIGIN}
    path = "/v1/targets/freshdesk/token"
    for client in (fast, slow):
        await get_http_1_0(client, path, headers)
    assert answered(fast) == 0
    status, fast_headers, body = await get_http_1_0(fast, path, headers)
    slow_status, slow_headers, slow_body = await get_http_1_0(slow, path, headers)
    assert status == slow_status == 200
    assert answered(fast) == 1
    assert fast_headers == slow_headers
    assert json.loads(body).keys() == json.loads(slow_body).keys()


async def test_trusted_proxies_name_the_client_alike(make_client: ClientFactory) -> None:
    limits = {"trusted_proxies": ["127.0.0.1/32"], "per_address": {"per_minute": 1, "burst": 3}}
    fast, slow = await pair(make_client, rate_limits=limits)
    statuses: dict[str, list[int]] = {"fast": [], "slow": []}
    # minted once per client, so that a repeat carries the very same (already verified) token
    tokens = {
        address: login_token(sub=f"user-{address}") for address in ("203.0.113.7", "198.51.100.2")
    }
    for client_address in ("203.0.113.7", "203.0.113.7", "203.0.113.7", "198.51.100.2"):
        headers = {
            "Cookie": f"token={tokens[client_address]}",
            "X-Forwarded-For": f"{client_address}, 127.0.0.1",
        }
        (status, fast_headers, _), (slow_status, slow_headers, _) = await both(
            fast, slow, "/generate/token", headers=headers
        )
        statuses["fast"].append(status)
        statuses["slow"].append(slow_status)
        assert fast_headers.keys() == slow_headers.keys()
    # 203.0.113.7's burst of 3 is spent by its third request; the other client has its own
    assert statuses["fast"] == statuses["slow"] == [200, 200, 200, 200]
    headers = {"Cookie": f"token={login_token()}", "X-Forwarded-For": "203.0.113.7"}
    (status, _, body), (slow_status, _, slow_body) = await both(
        fast, slow, "/generate/token", headers=headers
    )
    assert status == slow_status == 429
    assert body == slow_body
    assert answered(fast) >= 1
