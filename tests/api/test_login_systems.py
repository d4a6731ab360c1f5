"""Two login systems side by side, through HTTP: an HS system and an RS system whose keys come
from a fake OpenID Connect provider's discovery document (a real server on loopback).

The hostile table tries every way of making one system vouch for the other's tokens; each
row names the refusal reason the access line must give. Key rotation and the number of fetches
are checked against the provider's own request counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from pytest_aiohttp import AiohttpServer

from bridge.settings.loading import parse_settings
from tests.conftest import CHAT_SECRET, LOGIN_SECRET, AppClient, ClientFactory, Lines, config
from tests.support.fake_idp import FakeIdentityProvider, start_fake_idp
from tests.support.prom import scrape, value
from tests.support.tokens import forge, hs, public_pem, rs, rsa_key

#: the token requests as first requests and as repeats (tests.support.ways)
pytestmark = pytest.mark.both_ways

SHOP_ISSUER = "https://login.shop.example"
IDP_COOKIE = "idp_token"


def two_systems(idp: FakeIdentityProvider, **idp_overrides: Any) -> dict[str, Any]:
    data = config(
        upstreams=[
            {
                "name": "shop",
                "issuer": SHOP_ISSUER,
                "cookie": "token",
                "algorithms": ["HS256"],
                "secrets": [{"value": LOGIN_SECRET}],
                "name_claims": ["username", "email"],
            },
            {
                "name": "idp",
                "issuer": idp.issuer,
                "cookie": IDP_COOKIE,
                "algorithms": ["RS256"],
                "discovery_url": idp.discovery_url,
                "name_claims": ["name"],
                **idp_overrides,
            },
        ],
        # many requests by few users: the limits are not what these tests are about
        rate_limits={"per_address": None, "per_subject": None},
    )
    del data["upstream"]
    del data["targets"]["zipchat"]  # loading its RSA key is most of an app's set-up time
    return data


@pytest.fixture
async def idp(aiohttp_server: AiohttpServer) -> FakeIdentityProvider:
    return await start_fake_idp(aiohttp_server)


@pytest.fixture
async def client(make_client: ClientFactory, idp: FakeIdentityProvider) -> AppClient:
    return await make_client(parse_settings(two_systems(idp), environ={}))


def shop_token(**claims: Any) -> str:
    return jwt.encode(
        {"iss": SHOP_ISSUER, "sub": "shop-user", "email": "shop@example.com",
         "username": "Shop User", "exp": 2**31, **claims},
        LOGIN_SECRET, algorithm="HS256",
    )  # fmt: skip


def chat_claims(token: str) -> dict[str, Any]:
    """The minted Zendesk Chat token, verified independently with PyJWT."""
    claims: dict[str, Any] = jwt.decode(token, CHAT_SECRET, algorithms=["HS256"])
    return claims


async def mint(client: AppClient, cookie: str, token: str) -> tuple[int, dict[str, Any], str]:
    async with client.get("/generate/token", headers={"Cookie": f"{cookie}={token}"}) as r:
        return r.status, await r.json(), r.headers["X-Request-ID"]


def access_line(lines: Lines, request_id: str) -> dict[str, Any]:
    (line,) = [x for x in lines() if x.get("request_id") == request_id]
    return line


async def test_each_system_verifies_its_own_tokens_and_is_named(
    client: AppClient, idp: FakeIdentityProvider, log_lines: Lines
) -> None:
    status, body, shop_id = await mint(client, "token", shop_token())
    assert status == 200
    claims = chat_claims(body["token"])
    assert (claims["external_id"], claims["name"]) == ("shop-user", "Shop User")

    status, body, idp_id = await mint(client, IDP_COOKIE, idp.token(username="not this one"))
    assert status == 200
    claims = chat_claims(body["token"])
    # each system's own name_claims: the provider's [name], not the shop's [username, email]
    assert (claims["external_id"], claims["name"]) == ("idp|user-1", "Idp User")

    assert access_line(log_lines, shop_id)["login"] == "shop"
    assert access_line(log_lines, idp_id)["login"] == "idp"
    samples = await scrape(client)
    assert value(samples, "bridge_login_verified_total", login="shop") == 1
    assert value(samples, "bridge_login_verified_total", login="idp") == 1
    assert (idp.discovery_requests, idp.jwks_requests) == (1, 1)


@dataclass(frozen=True)
class Cross:
    id: str
    cookie: str
    build: Callable[[FakeIdentityProvider], str]
    reason: str


def _shop_header(alg: str = "HS256", **extra: Any) -> dict[str, Any]:
    return {"alg": alg, "typ": "JWT", **extra}


def _payload(iss: Any, **claims: Any) -> dict[str, Any]:
    payload = {"sub": "attacker", "email": "a@example.com", "exp": 2**31, **claims}
    if iss is not None:
        payload["iss"] = iss
    return payload


def _idp_key(idp: FakeIdentityProvider) -> Any:
    return dict(idp.keys)[idp.signing_kid]


SHOP_SECRET = LOGIN_SECRET.encode()
#: every way one system's key or cookie might vouch for the other system's token
CROSS_CASES = [
    # a token naming one system, signed with the other system's key
    Cross("shop-iss-signed-with-idp-rsa-key", "token",
          lambda idp: forge({"alg": "RS256", "kid": idp.signing_kid}, _payload(SHOP_ISSUER),
                            rs(_idp_key(idp))), "alg_not_allowed"),
    Cross("idp-iss-signed-with-shop-secret", IDP_COOKIE,
          lambda idp: forge(_shop_header(), _payload(idp.issuer), hs(SHOP_SECRET)),
          "alg_not_allowed"),
    # alg switches: HMAC keyed with the provider's public key (RFC 8725 §2.1)
    Cross("idp-iss-hs256-keyed-with-idp-public-pem", IDP_COOKIE,
          lambda idp: forge(_shop_header(kid=idp.signing_kid), _payload(idp.issuer),
                            hs(public_pem(_idp_key(idp)))), "alg_not_allowed"),
    Cross("idp-iss-ps256-with-idp-key", IDP_COOKIE,
          lambda idp: forge({"alg": "PS256", "kid": idp.signing_kid}, _payload(idp.issuer),
                            rs(_idp_key(idp), "PS256")), "alg_not_allowed"),
    Cross("shop-iss-hs512-with-shop-secret", "token",
          lambda idp: forge(_shop_header("HS512"), _payload(SHOP_ISSUER), hs(SHOP_SECRET, "HS512")),
          "alg_not_allowed"),
    Cross("shop-iss-alg-none", "token",
          lambda idp: forge({"alg": "none"}, _payload(SHOP_ISSUER), signature=b"x"), "alg_none"),
    # the right algorithm, the wrong key
    Cross("idp-iss-rs256-unpublished-key-with-idp-kid", IDP_COOKIE,
          lambda idp: forge({"alg": "RS256", "kid": idp.signing_kid}, _payload(idp.issuer),
                            rs(rsa_key(3))), "bad_signature"),
    Cross("idp-iss-rs256-unknown-kid", IDP_COOKIE,
          lambda idp: forge({"alg": "RS256", "kid": "not-published"}, _payload(idp.issuer),
                            rs(_idp_key(idp))), "unknown_kid"),
    Cross("shop-iss-hs256-other-secret", "token",
          lambda idp: forge(_shop_header(), _payload(SHOP_ISSUER), hs(b"x" * 40)),
          "bad_signature"),
    # a valid signature whose iss names no system, or a near miss of one
    Cross("shop-secret-no-iss", "token",
          lambda idp: forge(_shop_header(), _payload(None), hs(SHOP_SECRET)), "unknown_iss"),
    Cross("idp-key-no-iss", IDP_COOKIE,
          lambda idp: forge({"alg": "RS256", "kid": idp.signing_kid}, _payload(None),
                            rs(_idp_key(idp))), "unknown_iss"),
    Cross("shop-secret-iss-trailing-slash", "token",
          lambda idp: forge(_shop_header(), _payload(SHOP_ISSUER + "/"), hs(SHOP_SECRET)),
          "unknown_iss"),
    Cross("shop-secret-iss-upper-case", "token",
          lambda idp: forge(_shop_header(), _payload(SHOP_ISSUER.upper()), hs(SHOP_SECRET)),
          "unknown_iss"),
    Cross("shop-secret-iss-as-list", "token",
          lambda idp: forge(_shop_header(), _payload([SHOP_ISSUER]), hs(SHOP_SECRET)),
          "unknown_iss"),
    Cross("shop-secret-iss-of-another-site", "token",
          lambda idp: forge(_shop_header(), _payload("https://evil.example"), hs(SHOP_SECRET)),
          "unknown_iss"),
    Cross("idp-key-iss-prefix-of-idp", IDP_COOKIE,
          lambda idp: forge({"alg": "RS256", "kid": idp.signing_kid},
                            _payload(idp.issuer[:-1]), rs(_idp_key(idp))), "unknown_iss"),
    Cross("two-iss-members", "token",
          lambda idp: forge(_shop_header(),
                            f'{{"iss":"{idp.issuer}","iss":"{SHOP_ISSUER}","sub":"a","exp":{2**31}}}',
                            hs(SHOP_SECRET)), "duplicate_key"),
    # a valid token of one system, in the other system's cookie
    Cross("valid-shop-token-in-idp-cookie", IDP_COOKIE, lambda idp: shop_token(), "wrong_cookie"),
    Cross("valid-idp-token-in-shop-cookie", "token", lambda idp: idp.token(), "wrong_cookie"),
]  # fmt: skip


@pytest.mark.parametrize("case", CROSS_CASES, ids=[case.id for case in CROSS_CASES])
async def test_no_system_vouches_for_another(
    case: Cross, client: AppClient, idp: FakeIdentityProvider, log_lines: Lines
) -> None:
    token = case.build(idp)
    status, body, request_id = await mint(client, case.cookie, token)
    assert (status, body["code"]) == (401, "00-01")
    assert "token" not in body
    line = access_line(log_lines, request_id)
    assert (line["reason"], line["login"]) == (case.reason, None)


async def test_both_cookies_present_the_valid_one_wins(
    client: AppClient, idp: FakeIdentityProvider
) -> None:
    expired = shop_token(exp=1_000_000)
    headers = {"Cookie": f"token={expired}; {IDP_COOKIE}={idp.token()}"}
    async with client.get("/generate/token", headers=headers) as response:
        assert response.status == 200
        assert chat_claims((await response.json())["token"])["external_id"] == "idp|user-1"


USERS, ROUNDS = 100, 10
#: seconds between two key fetches (the smallest allowed)
COOLDOWN = 1


async def test_rotation_at_the_provider_and_the_fetch_counts(
    make_client: ClientFactory, idp: FakeIdentityProvider
) -> None:
    """Many requests: one discovery and one key fetch; a rotation costs one key fetch more."""
    data = two_systems(idp, keys_refresh_cooldown=COOLDOWN)
    client = await make_client(parse_settings(data, environ={}))
    tokens = [idp.token(sub=f"idp|user-{i}") for i in range(USERS)]
    for round_ in range(ROUNDS):  # concurrent, from a cold start: single-flight
        answers = await asyncio.gather(*(mint(client, IDP_COOKIE, t) for t in tokens))
        assert [status for status, _, _ in answers] == [200] * USERS, round_
    assert (idp.discovery_requests, idp.jwks_requests) == (1, 1)
    print(f"{USERS * ROUNDS} requests: {idp.discovery_requests} discovery, "
          f"{idp.jwks_requests} key fetches")  # fmt: skip

    old = tokens[0]
    await asyncio.sleep(COOLDOWN)  # a provider rotates long after the last fetch
    idp.rotate(keep_old=True)
    rotated = [idp.token(sub=f"idp|rotated-{i}") for i in range(50)]
    answers = await asyncio.gather(*(mint(client, IDP_COOKIE, t) for t in rotated))
    assert [status for status, _, _ in answers] == [200] * 50
    # the unknown kid made one single-flight refresh of the keys, not of the document
    assert (idp.discovery_requests, idp.jwks_requests) == (1, 2)
    assert (await mint(client, IDP_COOKIE, old))[0] == 200  # the old key is still published

    await asyncio.sleep(COOLDOWN)
    idp.rotate(keep_old=False)  # the old keys are withdrawn
    newest = idp.token(sub="idp|newest")
    assert (await mint(client, IDP_COOKIE, newest))[0] == 200
    assert (idp.discovery_requests, idp.jwks_requests) == (1, 3)
    # withdrawn keys stop verifying with the refresh (the token is not answered from a cache
    # that outlives a change of keys)
    status, body, _ = await mint(client, IDP_COOKIE, rotated[0])
    assert (status, body["code"]) == (401, "00-01")


async def test_the_keys_are_fetched_at_start_up_before_any_request(
    client: AppClient, idp: FakeIdentityProvider
) -> None:
    for _ in range(200):
        if idp.jwks_requests:
            break
        await asyncio.sleep(0.01)
    assert (idp.discovery_requests, idp.jwks_requests) == (1, 1)
    assert (await mint(client, IDP_COOKIE, idp.token()))[0] == 200
    assert (idp.discovery_requests, idp.jwks_requests) == (1, 1)


async def test_a_document_naming_another_issuer_gives_no_keys(
    make_client: ClientFactory, idp: FakeIdentityProvider
) -> None:
    idp.document_overrides["issuer"] = "https://someone-else.example"
    client = await make_client(parse_settings(two_systems(idp), environ={}))
    status, body, _ = await mint(client, IDP_COOKIE, idp.token())
    assert (status, body["code"]) == (503, "upstream_keys_unavailable")
    assert idp.jwks_requests == 0
    # the HS system is not affected
    assert (await mint(client, "token", shop_token()))[0] == 200
