"""The static client, the demo and the staff page through HTTP (the browser tests are in
tests/browser/), and the guards that keep the demo's login-cookie minting in development."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bridge.app import create_app
from bridge.errors import ConfigError
from bridge.http.pages import _json_for_html
from bridge.serve import with_server
from tests.conftest import (
    CHAT_SECRET,
    FRESHDESK_SECRET,
    LOGIN_SECRET,
    MESSAGING_SECRET,
    ClientFactory,
    settings,
)
from tests.ops.test_cli import EXAMPLE, run_cli
from tests.support.jwtcheck import verify_hs256

DEMO = {"enabled": True, "i_understand_this_mints_login_cookies": True}
DEV_USER = {"sub": "dev-user-0001", "email": "dev@example.com", "name": "Dev User"}
JSON = {"Content-Type": "application/json"}
SECRETS = (LOGIN_SECRET, CHAT_SECRET, MESSAGING_SECRET, FRESHDESK_SECRET)


def problems_of(**overrides: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        settings(**overrides)
    return caught.value.problems


# --- settings: the demo only in a development setup ---------------------------------------


def test_pages_are_off_by_default() -> None:
    defaults = settings()
    assert defaults.demo.enabled is False
    assert defaults.staff_page.enabled is False


def test_demo_needs_the_explicit_acknowledgement() -> None:
    [problem] = problems_of(demo={"enabled": True})
    assert problem.startswith("demo: ")
    assert "i_understand_this_mints_login_cookies: true" in problem


def test_demo_refuses_a_non_loopback_host() -> None:
    [problem] = problems_of(demo=DEMO, server={"host": "0.0.0.0"})  # noqa: S104
    assert "loopback server.host" in problem
    assert "'0.0.0.0'" in problem


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_demo_accepts_loopback_hosts(host: str) -> None:
    assert settings(demo=DEMO, server={"host": host}).demo.enabled


def test_demo_refuses_an_rs_upstream() -> None:
    upstream = {"algorithms": ["RS256"], "keys_url": "https://login.example.com/keys"}
    [problem] = problems_of(demo=DEMO, upstream=upstream)
    assert "needs an HS upstream" in problem


def test_demo_problems_are_reported_with_the_others() -> None:
    problems = problems_of(
        demo={"enabled": True, "login_ttl": 5},
        server={"host": "192.0.2.10", "port": -1},
    )
    assert any(p.startswith("server.port") for p in problems)
    assert any(p.startswith("demo.login_ttl") for p in problems)
    # the demo's own problems need a valid section first; they are all listed then
    problems = problems_of(demo={"enabled": True}, server={"host": "192.0.2.10"}, cors={"x": 1})
    assert any("cors.x" in p for p in problems)
    [demo] = [p for p in problems if p.startswith("demo:")]
    assert "i_understand_this_mints_login_cookies" in demo
    assert "loopback server.host" in demo


def test_create_app_refuses_the_demo_after_a_host_override() -> None:
    overridden = with_server(settings(demo=DEMO), "0.0.0.0", None)  # noqa: S104
    with pytest.raises(ConfigError, match="loopback"):
        create_app(overridden)


def test_serve_refuses_the_example_demo_on_a_public_host() -> None:
    # a documentation address (TEST-NET-1): should the guard ever fail, nothing can bind it
    result = run_cli("serve", "--config", str(EXAMPLE), "--host", "192.0.2.1", "--port", "1")
    assert result.returncode == 2
    assert "demo: the demo only runs on a loopback server.host" in result.stderr
    assert "Running on" not in result.stdout + result.stderr


# --- /static/ --------------------------------------------------------------------------------


async def test_bridge_js_is_served_without_configuration(make_client: ClientFactory) -> None:
    client = await make_client()
    async with client.get("/static/bridge.js") as response:
        assert response.status == 200
        assert response.content_type == "text/javascript"
        assert response.headers["Cache-Control"] == "public, max-age=300"
        assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
        text = await response.text()
    assert "root.Bridge = " in text
    assert 'credentials: "include"' in text


@pytest.mark.parametrize(
    "path",
    ["/static/nothing.js", "/static/..%2Fpages.py", "/static/%2e%2e/settings.py", "/static/"],
)
async def test_only_the_listed_static_files_are_served(
    make_client: ClientFactory, path: str
) -> None:
    client = await make_client()
    async with client.get(path) as response:
        assert response.status == 404
        assert set(await response.json()) == {"code", "description"}


# --- the demo page ---------------------------------------------------------------------------


async def test_demo_and_staff_pages_are_404_when_disabled(make_client: ClientFactory) -> None:
    client = await make_client()
    for method, path in [("GET", "/demo"), ("POST", "/demo/login"), ("GET", "/staff")]:
        async with client.request(method, path, json=DEV_USER) as response:
            assert response.status == 404, path


async def test_demo_page_lists_the_targets_and_renders_no_secret(
    make_client: ClientFactory,
) -> None:
    client = await make_client(settings(demo=DEMO))
    async with client.get("/demo") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"
        page = await response.text()
    assert '{"name":"chat","type":"zendesk_chat","ttl":300,"default":true}' in page
    assert '"name":"zipchat","type":"zipchat"' in page
    assert "{{" not in page
    assert "<script>" not in page  # no inline script: the CSP forbids it
    for secret in SECRETS:
        assert secret not in page
    assert "PRIVATE KEY" not in page


def test_json_in_a_page_cannot_close_its_script_element() -> None:
    text = _json_for_html(["</script><script>alert(1)</script>", "a&b"])
    assert "<" not in text
    assert ">" not in text
    assert "&" not in text


async def test_demo_sign_in_sets_an_httponly_lax_login_cookie_that_the_gateway_accepts(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = await make_client(settings(demo=DEMO))
    async with client.post("/demo/login", json=DEV_USER) as response:
        assert response.status == 200
        body = await response.json()
        cookie = response.cookies["token"]
    assert body["sub"] == DEV_USER["sub"]
    assert "token" not in body  # the page never sees the login token
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert cookie["max-age"] == "3600"
    _, claims = verify_hs256(cookie.value, LOGIN_SECRET)
    assert claims["exp"] - claims["iat"] == 3600
    assert body["expires_at"] == claims["exp"]
    # the client's cookie jar sends it back: the gateway turns it into a widget token
    async with client.get("/v1/targets/chat/token") as response:
        assert response.status == 200
        token = (await response.json())["token"]
    _, chat = verify_hs256(token, CHAT_SECRET)
    assert (chat["external_id"], chat["email"], chat["name"]) == (
        DEV_USER["sub"],
        DEV_USER["email"],
        DEV_USER["name"],
    )
    assert all(cookie.value not in record.getMessage() for record in caplog.records)


async def test_demo_sign_out_clears_the_cookie(make_client: ClientFactory) -> None:
    client = await make_client(settings(demo=DEMO))
    await client.post("/demo/login", json=DEV_USER)
    async with client.post("/demo/logout", json={}) as response:
        assert response.status == 200
        assert response.cookies["token"]["max-age"] == "0"
    async with client.get("/v1/targets/chat/token") as response:
        assert response.status == 401


@pytest.mark.parametrize(
    "header", ["X-Forwarded-For", "Forwarded", "X-Real-IP", "X-Forwarded-Host", "Via"]
)
async def test_demo_refuses_proxied_requests(make_client: ClientFactory, header: str) -> None:
    client = await make_client(settings(demo=DEMO))
    for method, path in [("GET", "/demo"), ("POST", "/demo/login")]:
        async with client.request(method, path, json=DEV_USER, headers={header: "1"}) as response:
            assert response.status == 403
            assert (await response.json())["code"] == "demo_local_only"
            assert "Set-Cookie" not in response.headers


async def test_demo_sign_in_is_json_from_its_own_origin_only(make_client: ClientFactory) -> None:
    client = await make_client(settings(demo=DEMO))
    # a cross-site form post (login CSRF) cannot send application/json
    async with client.post("/demo/login", data={"sub": "attacker"}) as response:
        assert response.status == 415
        assert "Set-Cookie" not in response.headers
    origin = {"Origin": "https://evil.example.net"}
    async with client.post("/demo/login", json=DEV_USER, headers=origin) as response:
        assert response.status == 403
        assert "Set-Cookie" not in response.headers
    own = {"Origin": str(client.make_url("")).rstrip("/")}
    async with client.post("/demo/login", json=DEV_USER, headers=own) as response:
        assert response.status == 200


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"email": "a@example.com"}',
        b'{"sub": ""}',
        b'{"sub": " padded"}',
        b'{"sub": "a\\u0000b"}',
        b'{"sub": "x\\u202eevil"}',
        b'{"sub": 42}',
        b'{"sub": "' + b"x" * 256 + b'"}',
        b'{"sub": "ok", "email": "not-an-email"}',
        b'{"sub": "ok", "groups": ["staff"]}',
        b'{"sub": "ok", "name": {"first": "Ann"}}',
    ],
)
async def test_a_malformed_development_user_is_a_400(
    make_client: ClientFactory, body: bytes
) -> None:
    client = await make_client(settings(demo=DEMO))
    async with client.post("/demo/login", data=body, headers=JSON) as response:
        assert response.status == 400
        assert await response.json() == {
            "code": "invalid_demo_user",
            "description": "The development user needs a sub; email and name are optional",
        }
        assert "Set-Cookie" not in response.headers


async def test_a_development_user_without_email_gets_messaging_but_not_chat(
    make_client: ClientFactory,
) -> None:
    client = await make_client(settings(demo=DEMO))
    await client.post("/demo/login", json={"sub": "phone-user", "email": "", "name": ""})
    async with client.get("/v1/targets/messaging/token") as response:
        assert response.status == 200
    async with client.get("/v1/targets/chat/token") as response:
        assert response.status == 422
        assert (await response.json())["code"] == "00-03"


# --- the staff page ---------------------------------------------------------------------------


@pytest.mark.parametrize(("login_group", "expected"), [(None, "false"), ("support", "true")])
async def test_staff_page_says_whether_a_staff_login_works(
    make_client: ClientFactory, login_group: str | None, expected: str
) -> None:
    staff = {"api_keys": [{"value": "staff-key-0123456789abcdef"}], "login_group": login_group}
    client = await make_client(settings(staff_page={"enabled": True}, staff=staff))
    async with client.get("/staff") as response:
        assert response.status == 200
        assert "connect-src 'self'" in response.headers["Content-Security-Policy"]
        page = await response.text()
    assert f'data-login-cookie="{expected}"' in page
    assert "staff-key-0123456789abcdef" not in page
