"""Family ``forwarding``: dodging the rate limits by claiming to be someone else.

Each case is a burst of token requests that varies what an attacker controls: forwarding
headers (``X-Forwarded-For``, ``X-Real-IP``, RFC 7239 ``Forwarded``), garbage, ports, IPv4-mapped
and same-/64 IPv6 addresses, trusted-looking hops, or, for the per-subject limit, the address
itself. The limit here is two requests at once; whatever the variation, the third request of
the same client (or the same stolen login) is a 429 ``rate_limited`` with ``Retry-After``.

Behind a trusted proxy (``127.0.0.1`` here, the test client's address), the proxy appends the
real client (``REAL``) to whatever ``X-Forwarded-For`` or ``Forwarded`` the client sent, as
proxies do; only hops to the right of the first untrusted one are believed, and a client's own
header beside the proxy's is no way out either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from bridge.settings.loading import parse_settings
from tests.conftest import AppClient, ClientFactory, config, login_token

FAMILY = "forwarding"
REAL = "203.0.113.5"
ATTEMPTS = 4
Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class ForwardingCase:
    id: str
    headers: Callable[[int], Headers]  # the i-th request's extra headers
    behind_proxy: bool = False
    limit: str = "per_address"


def proxied(client_sent: str | None) -> Headers:
    """What a trusted proxy forwards: the client's own X-Forwarded-For plus the real address."""
    value = REAL if client_sent is None else f"{client_sent}, {REAL}"
    return [("X-Forwarded-For", value)]


CASES = [
    ForwardingCase(
        "fwd-xff-rotating-untrusted-peer", lambda i: [("X-Forwarded-For", f"198.51.100.{i}")]
    ),
    ForwardingCase(
        "fwd-x-real-ip-rotating", lambda i: [("X-Real-IP", f"198.51.100.{i}")], behind_proxy=True
    ),
    ForwardingCase(
        "fwd-forwarded-header-rotating",
        lambda i: [("Forwarded", f"for=198.51.100.{i}, for={REAL}")],
        behind_proxy=True,
    ),
    ForwardingCase(
        "fwd-forwarded-header-added-line",
        lambda i: [("Forwarded", f"for=198.51.100.{i}"), ("Forwarded", f"for={REAL};proto=https")],
        behind_proxy=True,
    ),
    ForwardingCase(
        "fwd-forwarded-unclosed-quote-swallows-the-proxy-hop",
        lambda i: [("Forwarded", f'for="198.51.100.{i}, for={REAL}')],
        behind_proxy=True,
    ),
    ForwardingCase(
        "fwd-forwarded-beside-the-proxys-xff",  # the proxy writes X-Forwarded-For only
        lambda i: [("Forwarded", f"for=198.51.100.{i}"), *proxied(None)],
        behind_proxy=True,
    ),
    ForwardingCase(
        "fwd-xff-beside-the-proxys-forwarded",  # the proxy writes Forwarded only
        lambda i: [("X-Forwarded-For", f"198.51.100.{i}"), ("Forwarded", f"for={REAL}")],
        behind_proxy=True,
    ),
    ForwardingCase(
        "fwd-forwarded-rotating-untrusted-peer", lambda i: [("Forwarded", f"for=198.51.100.{i}")]
    ),
    ForwardingCase(
        "fwd-true-client-ip-rotating",
        lambda i: [("True-Client-IP", f"198.51.100.{i}"), ("CF-Connecting-IP", f"198.51.100.{i}")],
        behind_proxy=True,
    ),
    ForwardingCase(
        "fwd-many-xff-headers-untrusted-peer",
        lambda i: [("X-Forwarded-For", f"198.51.100.{i}"), ("X-Forwarded-For", f"192.0.2.{i}")],
    ),
    ForwardingCase(
        "fwd-xff-left-spoof-behind-proxy", lambda i: proxied(f"198.51.100.{i}"), behind_proxy=True
    ),
    ForwardingCase(
        "fwd-xff-trusted-hop-spoof",
        lambda i: proxied(f"198.51.100.{i}, 127.0.0.1"),
        behind_proxy=True,
    ),
    ForwardingCase(
        "fwd-xff-garbage-behind-proxy",
        lambda i: [("X-Forwarded-For", f"unknown-{i}")],
        behind_proxy=True,
    ),
    ForwardingCase(
        "fwd-xff-rotating-ports",
        lambda i: [("X-Forwarded-For", f"{REAL}:{40000 + i}")],
        behind_proxy=True,
    ),
    ForwardingCase(
        "fwd-ipv4-mapped-ipv6",
        lambda i: [("X-Forwarded-For", REAL if i % 2 else f"::ffff:{REAL}")],
        behind_proxy=True,
    ),
    ForwardingCase(
        "fwd-ipv6-rotation-in-one-64",
        lambda i: [("X-Forwarded-For", f"2001:db8:1:2::{i + 1:x}")],
        behind_proxy=True,
    ),
    ForwardingCase(
        "fwd-stolen-login-from-many-addresses",
        lambda i: [("X-Forwarded-For", f"198.51.100.{i}")],
        behind_proxy=True,
        limit="per_subject",
    ),
]
IDS = [case.id for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_forwarding_trick_does_not_dodge_the_limit(
    make_client: ClientFactory, case: ForwardingCase
) -> None:
    limits: dict[str, object] = {"per_address": None, "per_subject": None, "per_staff_key": None}
    limits[case.limit] = {"per_minute": 1, "burst": 2}
    if case.behind_proxy:
        limits["trusted_proxies"] = ["127.0.0.1/32"]
    client: AppClient = await make_client(parse_settings(config(rate_limits=limits), environ={}))
    statuses = []
    for i in range(ATTEMPTS):
        headers = [("Cookie", f"token={login_token()}"), *case.headers(i)]
        response = await client.get("/generate/token", headers=headers)
        statuses.append(response.status)
        if response.status == 429:
            assert (await response.json())["code"] == "rate_limited"
            assert int(response.headers["Retry-After"]) >= 1
    assert statuses == [200, 200, 429, 429]


@pytest.mark.parametrize(
    "header",
    [
        lambda client: [("X-Forwarded-For", f"198.51.100.77, {client}")],
        lambda client: [("Forwarded", f'for=198.51.100.77, for="{client}:4711";proto=https')],
    ],
    ids=["x-forwarded-for", "forwarded"],
)
async def test_each_client_behind_a_trusted_proxy_has_its_own_count(
    make_client: ClientFactory, header: Callable[[str], Headers]
) -> None:
    """The other half: the proxy's hop is believed, so two clients do not share one limit."""
    limits = {"per_address": {"per_minute": 1, "burst": 2}, "per_subject": None,
              "trusted_proxies": ["127.0.0.1/32"]}  # fmt: skip
    client: AppClient = await make_client(parse_settings(config(rate_limits=limits), environ={}))
    statuses = {}
    for who in ("203.0.113.5", "203.0.113.6"):
        found = []
        for _ in range(3):
            headers = [("Cookie", f"token={login_token()}"), *header(who)]
            found.append((await client.get("/generate/token", headers=headers)).status)
        statuses[who] = found
    assert statuses == {"203.0.113.5": [200, 200, 429], "203.0.113.6": [200, 200, 429]}
