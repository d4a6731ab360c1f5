"""Family ``cookie``: the login cookie duplicated, renamed, encoded or moved elsewhere.

The identity comes only from the cookie named ``upstream.cookie`` (RFC 6265 §5.2: names are
case-sensitive and not percent-decoded). Two different values under that name are refused
rather than one picked, since a sibling subdomain can toss in a cookie of the same name
(cookie tossing) and browsers order them by path length, not by trust. A token anywhere else
(query string, body, ``Authorization``, a ``Set-Cookie`` request header) is no token at all.

Every request here carries either the victim's valid login token in the wrong place, or a
forged one (an attacker's secret, the victim's ``sub``) next to it: each answer is a 401 with
its code and no token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import SUB, AppClient, login_token

FAMILY = "cookie"
ATTACKER_SECRET = "an-attacker-secret-0123456789abcdef012345"


@dataclass(frozen=True)
class Request:
    headers: list[tuple[str, str]]
    method: str = "GET"
    path: str = "/generate/token"
    data: dict[str, str] | None = None
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CookieCase:
    id: str
    build: Callable[[str, str], Request]  # (valid token, forged token) -> request
    code: str  # the 401's code: 00-00 no token, 00-01 invalid


def cookie(value: str) -> Request:
    return Request([("Cookie", value)])


CASES = [
    CookieCase("cookie-valid-then-forged", lambda v, f: cookie(f"token={v}; token={f}"), "00-01"),
    CookieCase("cookie-forged-then-valid", lambda v, f: cookie(f"token={f}; token={v}"), "00-01"),
    CookieCase(
        "cookie-two-headers",
        lambda v, f: Request([("Cookie", f"token={v}"), ("Cookie", f"token={f}")]),
        "00-01",
    ),
    CookieCase("cookie-empty-then-forged", lambda v, f: cookie(f"token=; token={f}"), "00-01"),
    CookieCase(
        "cookie-quoted-then-forged", lambda v, f: cookie(f'token="{v}"; token={f}'), "00-01"
    ),
    CookieCase("cookie-comma-joined", lambda v, f: cookie(f"token={v}, token={f}"), "00-01"),
    CookieCase(
        "cookie-value-percent-encoded",
        lambda v, f: cookie("token=" + v.replace(".", "%2E")),
        "00-01",
    ),
    CookieCase("cookie-value-leading-equals", lambda v, f: cookie(f"token=={v}"), "00-01"),
    CookieCase("cookie-value-doubled", lambda v, f: cookie(f"token={v}{v}"), "00-01"),
    CookieCase("cookie-name-uppercase", lambda v, f: cookie(f"TOKEN={v}"), "00-00"),
    CookieCase("cookie-name-titlecase", lambda v, f: cookie(f"Token={v}"), "00-00"),
    CookieCase("cookie-name-percent-encoded", lambda v, f: cookie(f"tok%65n={v}"), "00-00"),
    CookieCase("cookie-name-host-prefix", lambda v, f: cookie(f"__Host-token={v}"), "00-00"),
    CookieCase("cookie-name-suffix", lambda v, f: cookie(f"tokenx={v}"), "00-00"),
    CookieCase("cookie-name-inner-space", lambda v, f: cookie(f"to ken={v}"), "00-00"),
    CookieCase("cookie-name-only", lambda v, f: cookie("token"), "00-00"),
    CookieCase(
        "token-in-authorization",
        lambda v, f: Request([("Authorization", f"Bearer {v}")]),
        "00-00",
    ),
    CookieCase("token-in-query", lambda v, f: Request([], params={"token": v}), "00-00"),
    CookieCase(
        "token-in-form-body",
        lambda v, f: Request([], method="POST", data={"token": v, "sub": SUB}),
        "00-00",
    ),
    CookieCase(
        "token-in-set-cookie-request-header",
        lambda v, f: Request([("Set-Cookie", f"token={v}")]),
        "00-00",
    ),
    CookieCase(
        "token-in-cookie2-header", lambda v, f: Request([("Cookie2", f"token={v}")]), "00-00"
    ),
]
IDS = [case.id for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_cookie_trick_is_a_coded_401(client: AppClient, case: CookieCase) -> None:
    valid = login_token()
    forged = login_token(ATTACKER_SECRET)
    request = case.build(valid, forged)
    kwargs: dict[str, Any] = {"headers": request.headers, "params": request.params}
    if request.data is not None:
        kwargs["data"] = request.data
    response = await client.request(request.method, request.path, **kwargs)
    assert response.status == 401
    body = await response.json()
    assert body["code"] == case.code
    assert set(body) == {"code", "description"}
    text = await response.text()
    assert valid not in text
    assert forged not in text


async def test_the_valid_token_alone_is_accepted(client: AppClient) -> None:
    """The cases fail for their trick, not because the token itself is bad."""
    response = await client.get("/generate/token", headers={"Cookie": f"token={login_token()}"})
    assert response.status == 200
