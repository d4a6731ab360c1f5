"""Family ``origin``: a browser's cross-site fetch from an origin that only looks like ours.

Each request is what a browser sends for ``fetch(url, {credentials: "include"})`` from another
site (``Sec-Fetch-Site: cross-site``, ``Sec-Fetch-Mode: cors``) with the victim's valid login
cookie, from an origin that is *not* exactly the listed ``https://shop.example.com``: a suffix
or prefix look-alike, another scheme or port, a trailing dot or slash, a list, ``null``
(sandboxed frames, ``file:``, redirects), a homoglyph. Origins are compared as exact strings
(RFC 6454 §6.2 serialisation), so every one is refused twice over: Fetch Metadata answers 403
``fetch_metadata_refused`` without minting a token, and the answer carries no
``Access-Control-Allow-*`` header, nor does the preflight (so a browser would not even send the
request).
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from tests.conftest import ORIGIN, AppClient, login_token

FAMILY = "origin"

CASES = {
    "origin-null": "null",
    "origin-suffix-lookalike": "https://shop.example.com.evil.example",
    "origin-prefix-lookalike": "https://evilshop.example.com",
    "origin-other-subdomain": "https://evil.example.com",
    "origin-http-scheme": "http://shop.example.com",
    "origin-explicit-default-port": "https://shop.example.com:443",
    "origin-other-port": "https://shop.example.com:8443",
    "origin-trailing-dot": "https://shop.example.com.",
    "origin-trailing-slash": "https://shop.example.com/",
    "origin-with-path": "https://shop.example.com/evil",
    "origin-uppercase": "HTTPS://SHOP.EXAMPLE.COM",
    "origin-comma-list": f"{ORIGIN}, https://evil.example",
    "origin-space-list": f"{ORIGIN} https://evil.example",
    "origin-userinfo": "https://shop.example.com@evil.example",
    "origin-backslash": "https://shop.example.com\\@evil.example",
    "origin-wildcard": "*",
    "origin-empty": "",
    "origin-file-scheme": "file://",
    "origin-punycode-homoglyph": "https://xn--shp-bzc.example.com",  # shop, Greek omicron
    "origin-percent-encoded-dot": "https://shop%2eexample.com",
}
IDS = list(CASES)
ALLOW_PREFIX = "access-control-allow-"


def allow_headers(headers: Mapping[str, str]) -> list[str]:
    return [name for name in headers if name.lower().startswith(ALLOW_PREFIX)]


@pytest.mark.parametrize("origin", list(CASES.values()), ids=IDS)
async def test_look_alike_origin_gets_no_token_and_no_cors(client: AppClient, origin: str) -> None:
    token = login_token()
    response = await client.get(
        "/generate/token",
        headers={
            "Origin": origin,
            "Cookie": f"token={token}",
            "Sec-Fetch-Site": "cross-site",
            "Sec-Fetch-Mode": "cors",
            "Sec-Fetch-Dest": "empty",
        },
    )
    assert response.status == 403
    assert (await response.json())["code"] == "fetch_metadata_refused"
    assert allow_headers(response.headers) == []
    assert "Origin" in response.headers["Vary"]

    preflight = await client.options(
        "/v1/targets/chat/token",
        headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
    )
    assert 400 <= preflight.status < 500
    assert allow_headers(preflight.headers) == []


async def test_the_listed_origin_itself_gets_its_token(client: AppClient) -> None:
    """The same request from the exact listed origin works, so each case fails for its origin."""
    response = await client.get(
        "/generate/token",
        headers={
            "Origin": ORIGIN,
            "Cookie": f"token={login_token()}",
            "Sec-Fetch-Site": "cross-site",
            "Sec-Fetch-Mode": "cors",
            "Sec-Fetch-Dest": "empty",
        },
    )
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
