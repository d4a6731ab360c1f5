"""Where the gateway is reached: the ``{return}`` URL of ``login_url`` behind proxies.

``server.public_url`` wins whenever it is set; without it, the request's own ``Host`` and
scheme, and the forwarding headers only from ``rate_limits.trusted_proxies`` (the test
client's peer is 127.0.0.1), walked from the right like the client address.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

import pytest
from yarl import URL

from tests.api.test_zendesk_sso import LOGIN_URL, RETURN_TO, sso_settings
from tests.conftest import AppClient, ClientFactory

PATH = str(URL("/v1/sso/help").with_query({"return_to": RETURN_TO}))
TRUSTED = {"trusted_proxies": ["127.0.0.1/32", "10.0.0.0/8"]}


async def gateway(make_client: ClientFactory, **overrides: Any) -> AppClient:
    return await make_client(sso_settings(login_url=LOGIN_URL, **overrides))


async def returned_to(client: AppClient, headers: dict[str, str]) -> str:
    """The URL the visitor is sent back to after the login page."""
    response = await client.get(PATH, headers=headers, allow_redirects=False)
    assert response.status == 302, await response.text()
    location = response.headers["Location"]
    prefix = "https://acme.example.com/login?next="
    assert location.startswith(prefix)
    return unquote(location[len(prefix) :])


PROXY_REWROTE_HOST = {
    "Host": "bridge.default.svc:8001",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "bridge.example.com",
    "X-Forwarded-For": "203.0.113.9",
}


async def test_public_url_wins_over_host_scheme_and_forwarding_headers(
    make_client: ClientFactory,
) -> None:
    client = await gateway(
        make_client, server={"public_url": "https://help.example.com/bridge/"}, rate_limits=TRUSTED
    )
    assert await returned_to(client, PROXY_REWROTE_HOST) == "https://help.example.com/bridge" + PATH


async def test_a_trusted_proxy_that_rewrites_host_and_terminates_tls_is_believed(
    make_client: ClientFactory,
) -> None:
    client = await gateway(make_client, rate_limits=TRUSTED)
    assert await returned_to(client, PROXY_REWROTE_HOST) == "https://bridge.example.com" + PATH


async def test_forwarding_headers_from_a_peer_that_is_not_trusted_are_ignored(
    make_client: ClientFactory,
) -> None:
    client = await gateway(make_client)  # no trusted_proxies: 127.0.0.1 is just a client
    assert await returned_to(client, PROXY_REWROTE_HOST) == "http://bridge.default.svc:8001" + PATH


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        # one trusted proxy: the element it wrote
        (["for=203.0.113.9;proto=https;host=bridge.example.com"], "https://bridge.example.com"),
        # the client wrote the left element itself; the trusted proxy's own is on the right
        (
            [
                "for=198.51.100.1;proto=https;host=evil.example",
                "for=203.0.113.9;proto=https;host=bridge.example.com",
            ],
            "https://bridge.example.com",
        ),
        # two trusted proxies: the outer one (which spoke to the browser) is read
        (
            [
                "for=203.0.113.9;proto=https;host=bridge.example.com, for=10.1.2.3;proto=http;"
                'host="bridge.internal:8080"'
            ],
            "https://bridge.example.com",
        ),
        # a broken header names nothing: the request's own Host and scheme
        (['for=203.0.113.9;proto=https;host="bridge.example.com'], "http://bridge.default.svc"),
    ],
)
async def test_forwarded_is_walked_from_the_right_through_trusted_proxies(
    make_client: ClientFactory, forwarded: list[str], expected: str
) -> None:
    client = await gateway(make_client, rate_limits=TRUSTED)
    headers = {"Host": "bridge.default.svc", "Forwarded": ", ".join(forwarded)}
    assert await returned_to(client, headers) == expected + PATH


async def test_x_forwarded_values_are_read_at_the_outermost_trusted_proxy(
    make_client: ClientFactory,
) -> None:
    client = await gateway(make_client, rate_limits=TRUSTED)
    headers = {
        "Host": "bridge.default.svc",
        # the client sent "evil.example"; the ingress (10.1.2.3) appended what it received,
        # the sidecar (the peer) appended what the ingress sent it
        "X-Forwarded-For": "203.0.113.9, 10.1.2.3",
        "X-Forwarded-Host": "evil.example, bridge.example.com, bridge.internal",
        "X-Forwarded-Proto": "http, https, http",
    }
    assert await returned_to(client, headers) == "https://bridge.example.com" + PATH


async def test_forwarded_and_x_forwarded_that_disagree_are_both_ignored(
    make_client: ClientFactory,
) -> None:
    client = await gateway(make_client, rate_limits=TRUSTED)
    headers = {
        "Host": "bridge.default.svc",
        "Forwarded": "for=203.0.113.9;host=bridge.example.com",
        "X-Forwarded-Host": "evil.example",
    }
    assert await returned_to(client, headers) == "http://bridge.default.svc" + PATH


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example.com/x?<script>"},
        {"Host": "a b"},
        {"Host": "host:99999"},
        {"Host": "[::zz]:80"},
        {"Host": "bridge.example.com", "X-Forwarded-Host": "evil.example/<b>"},
        {"Host": "bridge.example.com", "Forwarded": 'for=203.0.113.9;host="a\\"b"'},
        {"Host": "bridge.example.com", "X-Forwarded-Proto": "javascript"},
    ],
)
async def test_a_host_that_is_not_a_host_name_is_400_and_never_echoed(
    make_client: ClientFactory, headers: dict[str, str]
) -> None:
    client = await gateway(make_client, rate_limits=TRUSTED)
    response = await client.get(PATH, headers=headers, allow_redirects=False)
    assert response.status == 400
    body = await response.json()
    assert body["code"] == "bad_host"
    text = str(body) + " ".join(f"{k}: {v}" for k, v in response.headers.items())
    for bad in ("evil", "<", "99999", "zz", "javascript", "a b"):
        assert bad not in text


async def test_with_public_url_a_bad_host_does_not_matter(make_client: ClientFactory) -> None:
    client = await gateway(make_client, server={"public_url": "https://bridge.example.com"})
    assert await returned_to(client, {"Host": "a b"}) == "https://bridge.example.com" + PATH


def test_the_login_url_gets_the_public_url_percent_encoded() -> None:
    # the {return} of login_url is one query value: every reserved character is encoded
    assert quote("https://bridge.example.com" + PATH, safe="").count("%3F") == 1
