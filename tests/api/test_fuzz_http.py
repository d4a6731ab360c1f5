"""Property-based fuzzing of the HTTP layer (Hypothesis): cookies, headers, paths, raw bytes.

Each test runs one app (four targets, a staff key, a fake Zendesk on a loopback port) shared
by its examples; rate limits are off except in the test about them. For every example:

* no 5xx, and no exception reaching the error middleware's last resort (``unhandled error``);
* an error answer is ``{"code", "description"}`` and holds no token;
* a 200 from a token endpoint only when the login cookie is Alice's validly signed token, and
  the minted token names Alice (``external_id``), never Mallory, whose forgeries (another
  secret, ``alg: none``, Alice's header and signature over Mallory's payload) are mixed into
  the cookies along with mutations of Alice's token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import string
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from bridge.settings.loading import parse_settings
from tests.conftest import AppClient, ClientFactory, config, login_token
from tests.support.fake_zendesk import CHAT_TOKEN, FakeZendesk
from tests.support.fuzz import fuzz
from tests.support.jwtcheck import parts
from tests.support.tokens import b64url, forge

STAFF_KEY = "fuzz-staff-key-0123456789abcdef"
ALICE = login_token(sub="alice")
_header, _, _signature = ALICE.split(".")
_mallory_claims = {**parts(ALICE)[1], "sub": "mallory"}
MALLORY = [
    login_token("mallory-secret-0123456789abcdef0123456789", sub="mallory"),
    forge({"alg": "none", "typ": "JWT"}, _mallory_claims),
    forge({"alg": "none", "typ": "JWT"}, _mallory_claims, signature="AA"),
    f"{_header}.{b64url(json.dumps(_mallory_claims).encode())}.{_signature}",
]
TOKEN_PATHS = ["/generate/token", "/v1/targets/chat/token", "/v1/targets/messaging/token"]
OTHER_PATHS = [
    "/v1/targets/zipchat/token",
    "/v1/targets/nope/token",
    "/v1/visitors/9855790.xjj3ukxyIhn6j3",
    "/v1/login-users/82cd5e0c-c3ff-11e9-b199-c1e5fc81c37f/zendesk",
    "/healthz",
    "/readyz",
    "/.well-known/jwks.json",
    "/metrics",
    "/",
]
#: header-value characters an HTTP client will send (latin-1, no CR/LF/NUL or other controls)
VALUE_CHARS = st.characters(
    codec="latin-1", exclude_categories=["Cc"], exclude_characters="\x7f"
) | st.just("\t")
TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"


def fuzz_settings(fake_zendesk: FakeZendesk, **rate_limits: Any) -> Any:
    limits = {"per_address": None, "per_subject": None, "per_staff_key": None, **rate_limits}
    return parse_settings(
        config(
            rate_limits=limits,
            staff={"api_keys": [{"value": STAFF_KEY}]},
            zendesk_chat_api={"base_url": fake_zendesk.chat_url, "token": {"value": CHAT_TOKEN}},
            zendesk_support_api={"base_url": fake_zendesk.url, "token": {"value": CHAT_TOKEN}},
        ),
        environ={},
    )


@pytest.fixture
async def app_client(make_client: ClientFactory, fake_zendesk: FakeZendesk) -> AppClient:
    return await make_client(fuzz_settings(fake_zendesk))


@pytest.fixture
async def limited_client(make_client: ClientFactory, fake_zendesk: FakeZendesk) -> AppClient:
    settings = fuzz_settings(
        fake_zendesk,
        per_address={"per_minute": 60, "burst": 5},
        per_subject={"per_minute": 60, "burst": 5},
        trusted_proxies=["127.0.0.0/8", "::1/128", "10.0.0.0/8"],
    )
    return await make_client(settings)


@pytest.fixture
def no_unhandled_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.ERROR, logger="bridge.errors")
    yield
    assert not [r for r in caplog.records if r.name == "bridge.errors"]


# --------------------------------------------------------------------------- strategies


@st.composite
def mutated_alice(draw: st.DrawFn) -> str:
    token = ALICE
    index = draw(st.integers(0, len(token) - 1))
    kind = draw(st.sampled_from(["replace", "delete", "truncate"]))
    if kind == "replace":
        return token[:index] + draw(st.sampled_from("AQgw-_.=+/")) + token[index + 1 :]
    if kind == "delete":
        return token[:index] + token[index + 1 :]
    return token[:index]


cookie_values = st.one_of(
    st.just(ALICE),
    st.sampled_from(MALLORY),
    mutated_alice(),
    st.text(VALUE_CHARS, max_size=80),
)
cookie_names = st.sampled_from(["token", "token", "Token", "TOKEN", " token", "session"]) | st.text(
    st.sampled_from(TOKEN_CHARS), min_size=1, max_size=8
)


@st.composite
def cookie_headers(draw: st.DrawFn) -> list[str]:
    """One or two ``Cookie`` headers of name=value pairs, quoted now and then."""
    found = []
    for _ in range(draw(st.integers(1, 2))):
        pairs = []
        for _ in range(draw(st.integers(0, 4))):
            value = draw(cookie_values)
            if draw(st.integers(0, 9)) == 0:
                value = f'"{value}"'
            pairs.append(f"{draw(cookie_names)}={value}")
        found.append(draw(st.sampled_from(["; ", ";", ", "])).join(pairs))
    return found


header_names = st.sampled_from(
    [
        "Origin",
        "Sec-Fetch-Site",
        "Sec-Fetch-Mode",
        "Sec-Fetch-Dest",
        "Accept",
        "Authorization",
        "X-Forwarded-For",
        "Forwarded",
        "Content-Type",
        "Accept-Encoding",
        "Range",
        "If-None-Match",
        "Access-Control-Request-Method",
        "Access-Control-Request-Headers",
    ]
) | st.text(st.sampled_from(TOKEN_CHARS), min_size=1, max_size=20).filter(
    lambda name: (
        name.lower()
        not in {"host", "content-length", "transfer-encoding", "connection", "upgrade", "expect"}
    )
)
header_values = st.one_of(
    st.text(VALUE_CHARS, max_size=100),
    st.sampled_from(
        [
            "https://shop.example.com",
            "null",
            "cross-site",
            "same-origin",
            "cors",
            "no-cors",
            "script",
            "empty",
            "application/jwt",
            "application/jwt;q=0.9, application/json;q=x",
            "*/*; q=",
            f"Bearer {STAFF_KEY}",
            "Bearer " + ALICE,
            "127.0.0.1, 10.0.0.1",
        ]
    ),
)


# --------------------------------------------------------------------------- checks


async def check_answer(response: Any, cookies: list[str], method: str, path: str) -> None:
    assert response.status < 500, (response.status, await response.text())
    body = await response.read()
    event("status", str(response.status))
    if response.status >= 400 and method != "HEAD":
        answer = json.loads(body)
        assert set(answer) == {"code", "description"}
        assert b"eyJ" not in body
    if response.status == 200 and path in TOKEN_PATHS and method in ("GET", "POST"):
        assert any(ALICE in header for header in cookies)
        minted = json.loads(body)["token"] if body.startswith(b"{") else body.decode()
        claims = parts(minted)[1]
        assert claims["external_id"] == "alice"


# --------------------------------------------------------------------------- properties


@pytest.mark.usefixtures("no_unhandled_errors")
@fuzz(400)
@given(
    cookies=cookie_headers(),
    path=st.sampled_from(TOKEN_PATHS),
    method=st.sampled_from(["GET", "POST"]),
)
async def test_cookies_never_mint_without_a_valid_login_token(
    app_client: AppClient, cookies: list[str], path: str, method: str
) -> None:
    headers = [("Cookie", value) for value in cookies]
    response = await app_client.request(method, path, headers=headers)
    await check_answer(response, cookies, method, path)


@pytest.mark.usefixtures("no_unhandled_errors")
@fuzz(400)
@given(
    extra=st.lists(st.tuples(header_names, header_values), max_size=6),
    with_alice=st.booleans(),
    path=st.sampled_from(TOKEN_PATHS + OTHER_PATHS),
    method=st.sampled_from(["GET", "GET", "POST", "OPTIONS", "HEAD", "PUT", "DELETE"]),
)
async def test_arbitrary_headers_never_cause_a_5xx(
    app_client: AppClient,
    extra: list[tuple[str, str]],
    with_alice: bool,
    path: str,
    method: str,
) -> None:
    cookies = [f"token={ALICE}"] if with_alice else []
    headers = [("Cookie", value) for value in cookies] + extra
    try:
        response = await app_client.request(method, path, headers=headers)
    except aiohttp.ClientResponseError as exc:
        # a request aiohttp cannot parse (say, Content-Type twice) gets a 400 with a body even
        # for HEAD: the method is unknown at that point; the client then refuses the answer
        refused: tuple[str, int] = (method, exc.status)
    else:
        await check_answer(response, cookies, method, path)
        return
    assert refused == ("HEAD", 400)
    event("status", "400 (HEAD, unparsable)")


raw_paths = st.text(
    st.characters(codec="ascii", exclude_categories=["Cc"], exclude_characters=" "), max_size=60
).map(lambda tail: "/" + tail)
raw_header_lines = st.lists(
    st.one_of(
        st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=40),
        st.tuples(header_names, header_values).map(lambda pair: f"{pair[0]}: {pair[1]}"),
    ).filter(
        lambda line: not line.lower().lstrip().startswith(("content-length", "transfer-encoding"))
    ),
    max_size=4,
)


@pytest.mark.usefixtures("no_unhandled_errors")
@fuzz(300)
@given(
    method=st.sampled_from(["GET", "POST", "HEAD", "OPTIONS", "get", "G\x00T", ""]),
    path=st.sampled_from(TOKEN_PATHS) | raw_paths,
    lines=raw_header_lines,
    with_alice=st.booleans(),
)
async def test_arbitrary_request_bytes_never_cause_a_5xx(
    app_client: AppClient, method: str, path: str, lines: list[str], with_alice: bool
) -> None:
    cookie = f"Cookie: token={ALICE}\r\n" if with_alice else ""
    head = f"{method} {path} HTTP/1.1\r\nHost: bridge.test\r\n{cookie}"
    raw = (head + "".join(line + "\r\n" for line in lines) + "\r\n").encode("latin-1")
    assert app_client.server.host is not None
    reader, writer = await asyncio.open_connection(app_client.server.host, app_client.server.port)
    try:
        writer.write(raw)
        await writer.drain()
        try:
            async with asyncio.timeout(3):
                status_line = await reader.readline()
                rest = await reader.readuntil(b"\r\n\r\n")
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            event("answer", "none (connection closed or waiting for more)")
            return
    finally:
        writer.close()
    status = int(status_line.split()[1])
    event("answer", str(status))
    assert status < 500
    assert b"eyJ" not in rest or status == 200


@pytest.mark.usefixtures("no_unhandled_errors")
@fuzz(300)
@given(
    forwarded=st.lists(
        st.one_of(
            st.ip_addresses().map(str),
            st.text(VALUE_CHARS, max_size=40),
            st.sampled_from(["127.0.0.1", "::1", "[::1]:80", "10.0.0.1:443", "unknown", ""]),
        ),
        max_size=5,
    ),
    cookie=cookie_values,
)
async def test_rate_limits_hold_up_under_arbitrary_forwarding_headers(
    limited_client: AppClient, forwarded: list[str], cookie: str
) -> None:
    client = limited_client
    headers = [("Cookie", f"token={cookie}")] + [("X-Forwarded-For", f) for f in forwarded]
    response = await client.get("/generate/token", headers=headers)
    await check_answer(response, [f"token={cookie}"], "GET", "/generate/token")
    if response.status == 429:
        assert int(response.headers["Retry-After"]) >= 1
