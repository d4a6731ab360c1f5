"""Keys through an OpenID Connect discovery document, from a fake provider on loopback, with
an injected clock: caching, refreshes, failures and what the document may not do."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer

from bridge.errors import KeysUnavailable
from bridge.login.keysets import KeySet, discovered_jwks_uri
from bridge.login.systems import LoginSystems
from bridge.login.verifier import Verifier
from bridge.settings.loading import parse_settings
from tests.conftest import config
from tests.support.fake_idp import FakeIdentityProvider, start_fake_idp
from tests.support.tokens import FakeClock

TTL, COOLDOWN = 600.0, 30.0


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def idp(aiohttp_server: AiohttpServer) -> FakeIdentityProvider:
    return await start_fake_idp(aiohttp_server)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


def discovered(
    session: aiohttp.ClientSession, idp: FakeIdentityProvider, clock: FakeClock
) -> KeySet:
    return KeySet(
        session, idp.discovery_url, family="RSA", cache_ttl=TTL, refresh_cooldown=COOLDOWN,
        timeout=2.0, clock=clock, discovery_issuer=idp.issuer,
    )  # fmt: skip


def fetches(idp: FakeIdentityProvider) -> tuple[int, int]:
    return idp.discovery_requests, idp.jwks_requests


async def test_keys_come_from_the_documents_jwks_uri_and_are_cached(
    session: aiohttp.ClientSession, idp: FakeIdentityProvider, clock: FakeClock
) -> None:
    keyset = discovered(session, idp, clock)
    for _ in range(100):
        assert len(await keyset.keys_for(idp.signing_kid)) == 1
    assert fetches(idp) == (1, 1)
    clock.advance(TTL)  # both due again
    await keyset.keys_for(idp.signing_kid)
    assert fetches(idp) == (2, 2)


async def test_an_unknown_kid_fetches_the_keys_again_but_not_the_document(
    session: aiohttp.ClientSession, idp: FakeIdentityProvider, clock: FakeClock
) -> None:
    keyset = discovered(session, idp, clock)
    await keyset.keys_for(idp.signing_kid)
    new_kid = idp.rotate()
    assert await keyset.keys_for(new_kid) == []  # within the cooldown: no fetch
    assert fetches(idp) == (1, 1)
    clock.advance(COOLDOWN)
    assert len(await keyset.keys_for(new_kid)) == 1
    assert fetches(idp) == (1, 2)


async def test_a_failing_document_keeps_the_last_jwks_uri_and_keys(
    session: aiohttp.ClientSession, idp: FakeIdentityProvider, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    keyset = discovered(session, idp, clock)
    kid = idp.signing_kid
    await keyset.keys_for(kid)
    idp.discovery_status = 500
    clock.advance(TTL)
    with caplog.at_level(logging.WARNING):
        assert len(await keyset.keys_for(kid)) == 1
    assert fetches(idp) == (2, 2)  # the document failed; the keys were fetched from before
    assert "discovery document failed (HTTP 500)" in caplog.text
    idp.jwks_status = 500
    clock.advance(TTL)
    assert len(await keyset.keys_for(kid)) == 1  # both failed: the old keys stay


@pytest.mark.parametrize(
    ("override", "why"),
    [
        ({"issuer": "https://someone-else.example"}, "names another issuer"),
        ({"issuer": None}, "names another issuer"),
        ({"jwks_uri": None}, "has no jwks_uri"),
        ({"jwks_uri": "file:///etc/passwd"}, "not an http(s) URL"),
        ({"jwks_uri": ["http://127.0.0.1/jwks"]}, "has no jwks_uri"),
    ],
)
async def test_a_document_that_cannot_be_trusted_gives_no_keys(
    session: aiohttp.ClientSession, idp: FakeIdentityProvider, clock: FakeClock,
    caplog: pytest.LogCaptureFixture, override: dict[str, object], why: str,
) -> None:  # fmt: skip
    idp.document_overrides.update(override)
    keyset = discovered(session, idp, clock)
    with caplog.at_level(logging.WARNING), pytest.raises(KeysUnavailable):
        await keyset.keys_for(idp.signing_kid)
    assert fetches(idp) == (1, 0)
    assert why in caplog.text


@pytest.mark.parametrize(
    ("document_url", "jwks_uri", "ok"),
    [
        ("https://idp.example/.well-known/openid-configuration", "https://keys.idp.example/", True),
        ("https://idp.example/.well-known/openid-configuration", "http://idp.example/jwks", False),
        ("http://127.0.0.1:8/.well-known/openid-configuration", "http://127.0.0.1:8/jwks", True),
        ("https://idp.example/.well-known/openid-configuration", "https:///jwks", False),
        ("https://idp.example/.well-known/openid-configuration", "javascript:alert(1)", False),
    ],
)
def test_the_jwks_uri_never_steps_down_to_http(document_url: str, jwks_uri: str, ok: bool) -> None:
    document = {"issuer": "https://idp.example", "jwks_uri": jwks_uri}
    if ok:
        assert discovered_jwks_uri(document, issuer="https://idp.example", url=document_url)
    else:
        with pytest.raises(ValueError, match="jwks_uri"):
            discovered_jwks_uri(document, issuer="https://idp.example", url=document_url)


async def test_ready_once_every_rs_system_has_its_keys(
    session: aiohttp.ClientSession, idp: FakeIdentityProvider, clock: FakeClock
) -> None:
    data = config(
        upstreams=[
            {"issuer": "https://shop.example", "secrets": [{"value": "s" * 32}]},
            {"issuer": idp.issuer, "algorithms": ["RS256"], "discovery_url": idp.discovery_url},
        ]
    )
    del data["upstream"]
    (shop_name, shop), (idp_name, idp_settings) = parse_settings(data, environ={}).login_systems
    keyset = discovered(session, idp, clock)
    systems = LoginSystems(
        [Verifier(shop, name=shop_name), Verifier(idp_settings, keyset=keyset, name=idp_name)],
        [shop.issuer, idp_settings.issuer],
    )
    assert systems.ready is False  # the HS system is ready; the RS one has no keys yet
    idp.jwks_status = 503
    with pytest.raises(KeysUnavailable):
        await systems.verify(idp.token())
    assert systems.ready is False
    idp.jwks_status = 200
    clock.advance(COOLDOWN)
    identity = await systems.verify(idp.token())
    assert (identity.login, identity.sub) == ("upstream-2", "idp|user-1")
    assert systems.ready is True
    idp.jwks_status = 503  # a later failure keeps the keys, and readiness
    clock.advance(TTL)
    await systems.verify(idp.token(sub="other"))
    assert systems.ready is True


@pytest.mark.parametrize("attacked", [False, True], ids=["quiet", "invented-kids"])
async def test_an_hour_of_requests_costs_few_fetches(
    session: aiohttp.ClientSession, idp: FakeIdentityProvider, clock: FakeClock, attacked: bool
) -> None:
    """36 000 look-ups of the real kid (10 a second) over an hour of the injected clock, and
    with ``attacked`` 3 600 more of invented kids (one a second)."""
    keyset = discovered(session, idp, clock)
    kid = idp.signing_kid
    for second in range(3600):
        for _ in range(10):
            assert len(await keyset.keys_for(kid)) == 1
        if attacked:
            assert await keyset.keys_for(f"invented-{second}") == []
        clock.advance(1)
    documents, keys = fetches(idp)
    # the document once per keys_cache_ttl; the keys too, or at most once per cooldown
    assert documents == 3600 / TTL
    assert keys == (3600 / COOLDOWN if attacked else 3600 / TTL)
    print(f"an hour, attacked={attacked}: {documents} discovery, {keys} key fetches")
