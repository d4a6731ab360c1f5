"""The verifier's cache of verified tokens: faster, never more permissive."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer

from bridge.login.keysets import KeySet
from bridge.login.verifier import Verifier
from tests.support.tokens import (
    FakeClock,
    forge,
    hs256,
    jwks,
    rs,
    rsa_jwk,
    rsa_key,
    start_key_server,
)
from tests.unit.login.test_verifier import NOW, claims, reason_of, upstream


async def test_a_cached_token_still_expires_to_the_second() -> None:
    clock = FakeClock(NOW)
    check = Verifier(upstream(leeway=0), clock=clock)
    token = hs256(claims(exp=NOW + 10))
    assert (await check.verify(token)).sub
    assert check.cached == 1
    clock.now = NOW + 9.999
    assert (await check.verify(token)).sub
    clock.now = NOW + 10
    assert await reason_of(check, token) == "expired"


async def test_an_expired_cached_token_is_dropped_and_refused_as_expired() -> None:
    clock = FakeClock(NOW)
    check = Verifier(upstream(leeway=0), clock=clock)
    token = hs256(claims(exp=NOW + 10))
    assert check.cached == 0  # never verified: the full path
    identity = await check.verify(token)
    assert check.cached == 1
    assert await check.verify(token) is identity  # the cached answer itself
    clock.now = NOW + 10
    assert await reason_of(check, token) == "expired"  # dropped, and verify says why
    assert check.cached == 0


async def test_leeway_is_the_same_for_cached_tokens() -> None:
    clock = FakeClock(NOW)
    check = Verifier(upstream(leeway=30), clock=clock)
    token = hs256(claims(exp=NOW + 10))
    assert (await check.verify(token)).sub
    clock.now = NOW + 39
    assert (await check.verify(token)).sub
    clock.now = NOW + 40
    assert await reason_of(check, token) == "expired"


async def test_rejected_tokens_are_not_cached() -> None:
    check = Verifier(upstream(), clock=lambda: NOW)
    assert await reason_of(check, hs256(claims(), secret=b"w" * 32)) == "bad_signature"
    assert check.cached == 0


async def test_the_cache_is_bounded() -> None:
    check = Verifier(upstream(verify_cache_size=3), clock=lambda: NOW)
    for i in range(5):
        assert (await check.verify(hs256(claims(sub=f"user-{i}")))).sub == f"user-{i}"
    assert check.cached == 3


async def test_the_cache_can_be_turned_off() -> None:
    check = Verifier(upstream(verify_cache_size=0), clock=lambda: NOW)
    assert (await check.verify(hs256(claims()))).sub
    assert check.cached == 0


async def test_a_verifier_with_other_secrets_does_not_share_the_cache() -> None:
    token = hs256(claims())
    assert (await Verifier(upstream(), clock=lambda: NOW).verify(token)).sub
    other = Verifier(upstream(secrets=[{"value": "q" * 32}]), clock=lambda: NOW)
    assert await reason_of(other, token) == "bad_signature"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


async def test_a_revoked_key_stops_working_once_keys_are_due(
    session: aiohttp.ClientSession, aiohttp_server: AiohttpServer
) -> None:
    """Cached results do not outlive the key set's refresh interval."""
    server = await start_key_server(aiohttp_server, jwks(rsa_jwk(rsa_key(0), "login-1")))
    settings = upstream(algorithms=["RS256"], secrets=[], keys_url=server.url)
    keys_clock = FakeClock(0)
    keyset = KeySet(session, server.url, family="RSA", cache_ttl=600, clock=keys_clock)
    check = Verifier(settings, keyset=keyset, clock=lambda: NOW)
    token = forge({"alg": "RS256", "typ": "JWT", "kid": "login-1"}, claims(), rs(rsa_key(0)))
    assert (await check.verify(token)).sub
    assert (await check.verify(token)).sub
    assert server.requests == 1  # the second answer came from the cache

    server.body = jwks(rsa_jwk(rsa_key(1), "login-2"))  # login-1 revoked
    keys_clock.advance(599)
    assert (await check.verify(token)).sub  # keys not yet due: same as without a cache
    keys_clock.advance(1)
    assert await reason_of(check, token) == "unknown_kid"
    assert server.requests >= 2


async def test_a_key_refresh_invalidates_cached_results(
    session: aiohttp.ClientSession, aiohttp_server: AiohttpServer
) -> None:
    server = await start_key_server(aiohttp_server, jwks(rsa_jwk(rsa_key(0), "login-1")))
    settings = upstream(algorithms=["RS256"], secrets=[], keys_url=server.url)
    keys_clock = FakeClock(0)
    keyset = KeySet(session, server.url, family="RSA", refresh_cooldown=1, clock=keys_clock)
    check = Verifier(settings, keyset=keyset, clock=lambda: NOW)
    old = forge({"alg": "RS256", "typ": "JWT", "kid": "login-1"}, claims(), rs(rsa_key(0)))
    assert (await check.verify(old)).sub
    # rotation: login-1 replaced by login-2; a token with the new kid triggers the refresh
    server.body = jwks(rsa_jwk(rsa_key(1), "login-2"))
    keys_clock.advance(2)
    new = forge({"alg": "RS256", "typ": "JWT", "kid": "login-2"}, claims(), rs(rsa_key(1)))
    assert (await check.verify(new)).sub
    assert await reason_of(check, old) == "unknown_kid"
