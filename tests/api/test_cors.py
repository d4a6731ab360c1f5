"""CORS with credentials: exact origins get headers (on errors too); no one else does."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from tests.conftest import ORIGIN, AppClient, login_token

#: the token requests as first requests and as repeats (tests.support.ways)
pytestmark = pytest.mark.both_ways

ALLOW_PREFIX = "access-control-allow-"


def allow_headers(headers: Mapping[str, str]) -> list[str]:
    return [name for name in headers if name.lower().startswith(ALLOW_PREFIX)]


async def test_listed_origin_gets_credentialed_cors_headers(client: AppClient) -> None:
    response = await client.get(
        "/generate/token", headers={"Origin": ORIGIN, "Cookie": f"token={login_token()}"}
    )
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in response.headers["Vary"]


async def test_listed_origin_can_read_a_401(client: AppClient) -> None:
    response = await client.get("/generate/token", headers={"Origin": ORIGIN})
    assert response.status == 401
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert (await response.json())["code"] == "00-00"


async def test_listed_origin_can_read_a_422(client: AppClient) -> None:
    response = await client.get(
        "/v1/targets/chat/token",
        headers={"Origin": ORIGIN, "Cookie": f"token={login_token(email=None)}"},
    )
    assert response.status == 422
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example.com",
        "null",
        "http://shop.example.com",
        "https://shop.example.com:8443",
        "https://shop.example.com.evil.com",
        "https://evilshop.example.com",
        "https://shop.example.com/",
        "https://shop.example.com.",
        "HTTPS://SHOP.EXAMPLE.COM",
        f"{ORIGIN}, https://evil.example.com",
        f"{ORIGIN} https://evil.example.com",
    ],
)
async def test_unlisted_origin_gets_no_allow_headers(client: AppClient, origin: str) -> None:
    response = await client.get(
        "/generate/token", headers={"Origin": origin, "Cookie": f"token={login_token()}"}
    )
    assert allow_headers(response.headers) == []
    assert "Origin" in response.headers["Vary"]


async def test_unlisted_origin_gets_no_allow_headers_on_a_401(client: AppClient) -> None:
    response = await client.get("/generate/token", headers={"Origin": "https://evil.example"})
    assert response.status == 401
    assert allow_headers(response.headers) == []


async def test_preflight_from_listed_origin(client: AppClient) -> None:
    response = await client.options(
        "/v1/targets/chat/token",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Origin" in response.headers["Vary"]


async def test_preflight_from_unlisted_origin_is_refused_without_allow_headers(
    client: AppClient,
) -> None:
    response = await client.options(
        "/generate/token",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert response.status == 403
    assert allow_headers(response.headers) == []
    body = await response.json()
    assert set(body) == {"code", "description"}


async def test_no_origin_no_cors_headers(client: AppClient) -> None:
    response = await client.get("/generate/token", headers={"Cookie": f"token={login_token()}"})
    assert response.status == 200
    assert allow_headers(response.headers) == []


async def test_actual_answers_carry_each_cors_header_once(client: AppClient) -> None:
    """aiohttp-cors answers preflights only; its response signal must not add a second set."""
    for method in (client.get, client.post):
        response = await method(
            "/v1/targets/chat/token", headers={"Origin": ORIGIN, "Cookie": f"token={login_token()}"}
        )
        assert response.status == 200
        assert response.headers.getall("Access-Control-Allow-Origin") == [ORIGIN]
        assert response.headers.getall("Access-Control-Allow-Credentials") == ["true"]
        assert response.headers.getall("Access-Control-Expose-Headers") == ["Retry-After"]
    assert len(client.app.on_response_prepare) == 0


async def test_routes_without_cors_get_no_allow_headers_from_a_listed_origin(
    client: AppClient,
) -> None:
    for path in ("/healthz", "/.well-known/jwks.json", "/nowhere"):
        response = await client.get(path, headers={"Origin": ORIGIN})
        assert allow_headers(response.headers) == [], path
        assert "Origin" in response.headers["Vary"]
