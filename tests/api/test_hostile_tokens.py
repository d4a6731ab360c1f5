"""The hostile-token table through HTTP: each one a 401/422 with its code, never a token or 5xx.

``test_hostile_tokens.py`` checks the verifier's verdict and reason for each case; this runs
the same cases as the login cookie of a real request to both token endpoints, with an app
configured the same way (HS256 with issuer and audience, or RS256 from a real key server).
"""

from __future__ import annotations

from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from bridge.app import HEADER_MARGIN
from bridge.settings.loading import parse_settings
from tests.conftest import AppClient, ClientFactory, config
from tests.support.tokens import SECRET, jwks, rsa_jwk, rsa_key, start_key_server
from tests.unit.login.test_hostile_tokens import AUDIENCE, CASES, ISSUER, Case, hs_token, rs_token

#: the token requests as first requests and as repeats (tests.support.ways)
pytestmark = pytest.mark.both_ways

EXPECTED_CODES = {401: "00-01", 422: "00-02"}
#: past this, aiohttp answers a plain 400 itself (app.py raises its limit to this)
SERVER_HEADER_LIMIT = 8192 + HEADER_MARGIN
#: cases that a cookie cannot carry: cookie parsing (RFC 6265 §5.2) trims the whitespace,
#: which leaves the table's valid base token
NOT_A_COOKIE = {"enc-leading-space", "enc-trailing-newline"}


async def app_for(
    kind: str, make_client: ClientFactory, aiohttp_server: AiohttpServer
) -> AppClient:
    upstream: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE}
    if kind == "hs":
        upstream |= {"algorithms": ["HS256"], "secrets": [{"value": SECRET.decode()}]}
    else:
        server = await start_key_server(aiohttp_server, jwks(rsa_jwk(rsa_key(0), "login-1")))
        upstream |= {"algorithms": ["RS256"], "keys_url": server.url}
    data = config(upstream=upstream)
    del data["targets"]["zipchat"]  # loading its RSA key is most of an app's set-up time
    return await make_client(parse_settings(data, environ={}))


@pytest.fixture
async def clients(
    make_client: ClientFactory, aiohttp_server: AiohttpServer
) -> dict[str, AppClient]:
    return {kind: await app_for(kind, make_client, aiohttp_server) for kind in ("hs", "rs")}


def cookie_header(token: str) -> dict[str, str]:
    # a token that is not even a legal header value still has to reach the server somehow
    safe = token.encode("utf-8", "surrogateescape").decode("latin-1", "replace")
    return {"Cookie": "token=" + safe.replace("\r", "").replace("\n", "")}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
@pytest.mark.parametrize("path", ["/generate/token", "/v1/targets/messaging/token"])
async def test_hostile_token_gets_a_coded_4xx(
    case: Case, path: str, clients: dict[str, AppClient]
) -> None:
    if case.id in NOT_A_COOKIE:
        pytest.skip("cookie parsing trims this case's whitespace away")
    headers = cookie_header(case.build())
    response = await clients[case.config].get(path, headers=headers)
    if len(headers["Cookie"]) > SERVER_HEADER_LIMIT:
        assert response.status == 400  # aiohttp's own header limit, before any handler
        return
    assert response.status in EXPECTED_CODES, response.status
    body = await response.json()
    expected = "00-00" if case.build() == "" else EXPECTED_CODES[response.status]
    assert body["code"] == expected
    assert set(body) == {"code", "description"}


@pytest.mark.parametrize("kind", ["hs", "rs"])
async def test_the_tables_base_tokens_mint_through_http(
    kind: str, clients: dict[str, AppClient]
) -> None:
    token = hs_token() if kind == "hs" else rs_token()
    response = await clients[kind].get("/generate/token", headers=cookie_header(token))
    assert response.status == 200
    assert "token" in await response.json()


async def test_a_header_beyond_the_servers_limit_is_a_4xx_and_never_logged(
    clients: dict[str, AppClient], caplog: pytest.LogCaptureFixture
) -> None:
    """Past max_token_bytes plus the margin, aiohttp answers 400 itself; the log stays clean."""
    token = hs_token(payload={"sub": "u" * 40_000, "exp": 2**31})
    response = await clients["hs"].get("/generate/token", headers=cookie_header(token))
    assert response.status == 400
    assert token[:40] not in caplog.text
    assert "eyJ" not in caplog.text
