"""KeySet against a real HTTP key server on a loopback port (no mocks of aiohttp)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pytest_aiohttp import AiohttpServer

from bridge.errors import KeysUnavailable
from bridge.login.keysets import KeySet
from bridge.login.verifier import Verifier
from bridge.settings.loading import parse_settings
from tests.support.tokens import (
    FakeClock,
    KeyServer,
    ec_jwk,
    ec_key,
    forge,
    jwks,
    rs,
    rsa_jwk,
    rsa_key,
    start_key_server,
    xsolla_key,
)

TTL = 600.0
COOLDOWN = 30.0


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def key_server(aiohttp_server: AiohttpServer) -> KeyServer:
    return await start_key_server(
        aiohttp_server, jwks(rsa_jwk(rsa_key(0), "k0"), rsa_jwk(rsa_key(1), "k1"))
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


def make_keyset(
    session: aiohttp.ClientSession,
    url: str,
    clock: FakeClock,
    *,
    family: str = "RSA",
    **kwargs: Any,
) -> KeySet:
    options: dict[str, Any] = {"cache_ttl": TTL, "refresh_cooldown": COOLDOWN, "timeout": 2.0}
    options.update(kwargs)
    return KeySet(session, url, family=family, clock=clock, **options)


def same_key(found: list[Any], private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bool:
    return len(found) == 1 and found[0].public_numbers() == private.public_key().public_numbers()


# ---------------------------------------------------------------- formats


async def test_standard_jwks_is_loaded(
    session: aiohttp.ClientSession, key_server: KeyServer, clock: FakeClock
) -> None:
    keyset = make_keyset(session, key_server.url, clock)
    assert same_key(await keyset.keys_for("k0"), rsa_key(0))
    assert same_key(await keyset.keys_for("k1"), rsa_key(1))
    assert key_server.requests == 1


async def test_xsolla_hex_key_array_is_loaded(
    session: aiohttp.ClientSession, key_server: KeyServer, clock: FakeClock
) -> None:
    key_server.body = json.dumps(
        [xsolla_key(rsa_key(0), "x0"), xsolla_key(rsa_key(1), "x1")]
    ).encode()
    keyset = make_keyset(session, key_server.url, clock)
    assert same_key(await keyset.keys_for("x1"), rsa_key(1))
    assert same_key(await keyset.keys_for("x0"), rsa_key(0))


async def test_ec_jwks_is_loaded_for_the_ec_family(
    session: aiohttp.ClientSession, key_server: KeyServer, clock: FakeClock
) -> None:
    key_server.body = jwks(
        rsa_jwk(rsa_key(0), "rsa"),
        ec_jwk(ec_key(0), "p256"),
        ec_jwk(ec_key(0, "P-384"), "p384"),
    )
    keyset = make_keyset(session, key_server.url, clock, family="EC")
    assert same_key(await keyset.keys_for("p256"), ec_key(0))
    assert same_key(await keyset.keys_for("p384"), ec_key(0, "P-384"))
    assert await keyset.keys_for("rsa") == []  # the other family is skipped


async def test_malformed_and_foreign_entries_are_skipped(
    session: aiohttp.ClientSession, key_server: KeyServer, clock: FakeClock
) -> None:
    good = rsa_jwk(rsa_key(0), "good")
    key_server.body = jwks(
        {"not": "a key"},
        rsa_jwk(rsa_key(1), "enc", use="enc"),
        rsa_jwk(rsa_key(1), "hs", alg="HS256"),
        rsa_jwk(rsa_key(1), "alg-list", alg=["RS256"]),
        rsa_jwk(rsa_key(1), "use-list", use=["sig"]),
        rsa_jwk(rsa_key(1), "ops", key_ops=["encrypt"]),
        {**rsa_jwk(rsa_key(1), "no-n"), "n": None},
        {**rsa_jwk(rsa_key(1), "bad-n"), "n": "***"},
        {**rsa_jwk(rsa_key(1), "no-e"), "e": ""},
        {**rsa_jwk(rsa_key(1), None), "kid": 42},
        rsa_jwk(rsa_key(2, 1024), "weak"),
        ec_jwk(ec_key(0), "ec"),
        {**ec_jwk(ec_key(0), "off-curve"), "kty": "RSA"},
        {"kty": "oct", "k": "c2VjcmV0", "kid": "oct"},
        good,
    )
    # the array of the JWKS, with a non-object in it
    document = json.loads(key_server.body)
    document["keys"].insert(0, "junk")
    key_server.body = json.dumps(document).encode()

    keyset = make_keyset(session, key_server.url, clock)
    assert same_key(await keyset.keys_for(None), rsa_key(0))
    assert same_key(await keyset.keys_for("good"), rsa_key(0))
    for kid in (
        "enc",
        "hs",
        "alg-list",
        "use-list",
        "ops",
        "no-n",
        "bad-n",
        "no-e",
        "weak",
        "ec",
        "off-curve",
        "oct",
    ):
        assert await keyset.keys_for(kid) == []


async def test_ec_point_not_on_the_curve_is_skipped(
    session: aiohttp.ClientSession, key_server: KeyServer, clock: FakeClock
) -> None:
    bad = ec_jwk(ec_key(0), "bad")
    bad["y"] = ec_jwk(ec_key(1), None)["y"]
    key_server.body = jwks(bad, ec_jwk(ec_key(1), "good"))
    keyset = make_keyset(session, key_server.url, clock, family="EC")
    assert await keyset.keys_for("bad") == []
    assert same_key(await keyset.keys_for(None), ec_key(1))


async def test_xsolla_array_is_read_as_hex_not_base64url(
    session: aiohttp.ClientSession, key_server: KeyServer, clock: FakeClock
) -> None:
    # a base64url modulus in the array format is not hex: the entry is skipped
    key_server.body = json.dumps(
        [{**rsa_jwk(rsa_key(0), "b64"), "use": "sig"}, xsolla_key(rsa_key(1), "hex")]
    ).encode()
    keyset = make_keyset(session, key_server.url, clock)
    assert await keyset.keys_for("b64") == []
    assert same_key(await keyset.keys_for("hex"), rsa_key(1))


# ---------------------------------------------------------------- refresh policy


async def test_new_kid_is_picked_up_after_rotation(
    session: aiohttp.ClientSession, key_server: KeyServer, clock: FakeClock
) -> None:
    keyset = make_keyset(session, key_server.url, clock)
    assert same_key(await keyset.keys_for("k0"), rsa_key(0))
    key_server.body = jwks(rsa_jwk(rsa_key(1), "k1"), rsa_jwk(rsa_key(2), "k2"))
    clock.advance(COOLDOWN)
    assert same_key(await keyset.keys_for("k2"), rsa_key(2))
    assert key_server.requests == 2
    # the retired key is gone with the refresh
    clock.advance(COOLDOWN)
    assert await keyset.keys_for("k0") == []


async def test_unknown_kid_refreshes_at_most_once_per_cooldown(
    session: aiohttp.ClientSession, key_server: KeyServer, clock: FakeClock
) -> None:
    keyset = make_keyset(session, key_server.url, clock)
    await keyset.keys_for("k0")
    assert key_server.requests == 1
    clock.advance(COOLDOWN)
    for n in range(20):
        assert await keyset.keys_for(f"made-up-{n}") == []
        clock.advance(1)
    assert key_server.requests == 2  # one refresh for the first unknown kid, then the cooldown
    clock.advance(COOLDOWN)
    assert await keyset.keys_for("made-up-again") == []
    assert key_server.requests == 3


async def test_unknown_kid_right_after_the_first_fetch_does_not_fetch_again(
    session: aiohttp.ClientSession, key_server: KeyServer, clock: FakeClock
) -> None:
    keyset = make_keyset(session, key_server.url, clock)
    assert await keyset.keys_for("unknown") == []
    assert key_server.requests == 1


async def test_concurrent_unknown_kid_lookups_share_one_fetch(
    session: aiohttp.ClientSession, key_server: KeyServer, clock: FakeClock
) -> None:
    keyset = make_keyset(session, key_server.url, clock)
    await keyset.keys_for("k0")
    key_server.body = jwks(rsa_jwk(rsa_key(2), "new"))
    key_server.gate = asyncio.Event()
    clock.advance(COOLDOWN)

    key_server.arrived.clear()

    lookups = [asyncio.create_task(keyset.keys_for("new")) for _ in range(25)]
    await key_server.arrived.wait()  # the one fetch reached the server and is held there
    await asyncio.sleep(0.01)  # every lookup is now waiting for it
    key_server.gate.set()
    results = await asyncio.gather(*lookups)

    assert all(same_key(found, rsa_key(2)) for found in results)
    assert key_server.requests == 2


async def test_concurrent_first_lookups_share_one_fetch(
    session: aiohttp.ClientSession, key_server: KeyServer, clock: FakeClock
) -> None:
    keyset = make_keyset(session, key_server.url, clock)
    results = await asyncio.gather(*(keyset.keys_for("k1") for _ in range(25)))
    assert all(same_key(found, rsa_key(1)) for found in results)
    assert key_server.requests == 1


async def test_keys_are_refreshed_when_stale(
    session: aiohttp.ClientSession, key_server: KeyServer, clock: FakeClock
) -> None:
    keyset = make_keyset(session, key_server.url, clock)
    await keyset.keys_for("k0")
    clock.advance(TTL - 1)
    await keyset.keys_for("k0")
    assert key_server.requests == 1
    key_server.body = jwks(rsa_jwk(rsa_key(2), "k2"))
    clock.advance(1)
    assert await keyset.keys_for("k0") == []  # the stale set was replaced
    assert same_key(await keyset.keys_for(None), rsa_key(2))
    assert key_server.requests == 2


# ---------------------------------------------------------------- failures


def _oversized() -> bytes:
    return json.dumps({"keys": [rsa_jwk(rsa_key(0), "k0")], "pad": "x" * 4096}).encode()


FAILURES: list[Any] = [
    pytest.param({"status": 500}, "HTTP 500", id="http-500"),
    pytest.param({"status": 404}, "HTTP 404", id="http-404"),
    pytest.param(
        {"body": b"<html>maintenance</html>", "content_type": "text/html"}, "not JSON", id="html"
    ),
    pytest.param({"body": b'{"keys": ['}, "not valid JSON", id="bad-json"),
    pytest.param({"body": b'{"keys": []}'}, "no usable RSA signing key", id="no-keys"),
    pytest.param({"body": b'"keys"'}, "neither a JWKS nor a key array", id="not-a-key-document"),
    pytest.param({"body": _oversized}, "Content-Length over the size limit", id="oversized"),
    pytest.param(
        {"body": _oversized, "chunked": True}, "body over the size limit", id="oversized-chunked"
    ),
]


@pytest.mark.parametrize(("failure", "logged"), FAILURES)
async def test_failed_refresh_keeps_the_old_keys(
    session: aiohttp.ClientSession,
    key_server: KeyServer,
    clock: FakeClock,
    failure: dict[str, Any],
    logged: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    keyset = make_keyset(session, key_server.url, clock, max_bytes=4096)
    assert same_key(await keyset.keys_for("k0"), rsa_key(0))
    for name, value in failure.items():
        setattr(key_server, name, value() if callable(value) else value)
    clock.advance(TTL)
    with caplog.at_level(logging.WARNING, logger="bridge.login.keysets"):
        assert same_key(await keyset.keys_for("k0"), rsa_key(0))
        assert same_key(await keyset.keys_for("k1"), rsa_key(1))
    assert key_server.requests == 2
    assert f"{logged}); keeping 2 cached keys" in caplog.text
    assert "maintenance" not in caplog.text
    assert key_server.url not in caplog.text


async def test_chunked_answer_within_the_limit_is_read(
    session: aiohttp.ClientSession, key_server: KeyServer, clock: FakeClock
) -> None:
    key_server.chunked = True
    keyset = make_keyset(session, key_server.url, clock)
    assert same_key(await keyset.keys_for("k1"), rsa_key(1))


async def test_oversized_first_answer_is_keys_unavailable(
    session: aiohttp.ClientSession, key_server: KeyServer, clock: FakeClock
) -> None:
    key_server.body = _oversized()
    keyset = make_keyset(session, key_server.url, clock, max_bytes=4096)
    with pytest.raises(KeysUnavailable):
        await keyset.keys_for("k0")


async def test_redirect_is_not_followed(
    session: aiohttp.ClientSession, key_server: KeyServer, clock: FakeClock
) -> None:
    keyset = make_keyset(session, key_server.path_url("/moved"), clock)
    with pytest.raises(KeysUnavailable):
        await keyset.keys_for("k0")
    assert key_server.redirect_hits == 0


async def test_server_down_keeps_the_old_keys(
    session: aiohttp.ClientSession, key_server: KeyServer, clock: FakeClock
) -> None:
    keyset = make_keyset(session, key_server.url, clock)
    assert same_key(await keyset.keys_for("k0"), rsa_key(0))
    assert key_server.server is not None
    await key_server.server.close()
    clock.advance(TTL)
    assert same_key(await keyset.keys_for("k0"), rsa_key(0))
    assert len(await keyset.keys_for(None)) == 2


async def test_timeout_keeps_the_old_keys(
    session: aiohttp.ClientSession, key_server: KeyServer, clock: FakeClock
) -> None:
    keyset = make_keyset(session, key_server.url, clock, timeout=0.2)
    assert same_key(await keyset.keys_for("k0"), rsa_key(0))
    key_server.gate = asyncio.Event()
    clock.advance(TTL)
    try:
        assert same_key(await keyset.keys_for("k0"), rsa_key(0))
    finally:
        key_server.gate.set()
    assert key_server.requests == 2


async def test_never_fetched_and_server_down_is_keys_unavailable(
    session: aiohttp.ClientSession, key_server: KeyServer, clock: FakeClock
) -> None:
    assert key_server.server is not None
    await key_server.server.close()
    keyset = make_keyset(session, key_server.url, clock)
    with pytest.raises(KeysUnavailable) as caught:
        await keyset.keys_for("k0")
    assert caught.value.status == 503
    with pytest.raises(KeysUnavailable):
        await keyset.keys_for(None)


async def test_never_fetched_is_retried_soon_after_a_failure(
    session: aiohttp.ClientSession, key_server: KeyServer, clock: FakeClock
) -> None:
    key_server.status = 503
    keyset = make_keyset(session, key_server.url, clock)
    with pytest.raises(KeysUnavailable):
        await keyset.keys_for("k0")
    with pytest.raises(KeysUnavailable):  # within the retry interval: no new request
        await keyset.keys_for("k0")
    assert key_server.requests == 1
    key_server.status = 200
    clock.advance(5)
    assert same_key(await keyset.keys_for("k0"), rsa_key(0))
    assert key_server.requests == 2


def test_unknown_family_is_refused() -> None:
    with pytest.raises(ValueError, match="family"):
        KeySet(None, "http://127.0.0.1/keys", family="HS")  # type: ignore[arg-type]


# ---------------------------------------------------------------- with the verifier


async def test_token_without_kid_is_checked_against_every_key(
    session: aiohttp.ClientSession, key_server: KeyServer, clock: FakeClock
) -> None:
    key_server.body = json.dumps(
        [xsolla_key(rsa_key(0), "a"), xsolla_key(rsa_key(1), "b"), xsolla_key(rsa_key(2), "c")]
    ).encode()
    settings = parse_settings(
        {
            "upstream": {"algorithms": ["RS256"], "keys_url": key_server.url},
            "targets": {"chat": {"type": "zendesk_chat", "secret": {"value": "z" * 32}}},
        },
        environ={},
    ).upstream
    keyset = make_keyset(session, key_server.url, clock)
    verifier = Verifier(settings, keyset=keyset, clock=lambda: 1_700_000_000)
    assert len(await keyset.keys_for(None)) == 3
    token = forge(
        {"alg": "RS256", "typ": "JWT"}, {"sub": "u-1", "exp": 1_700_000_600}, rs(rsa_key(2))
    )
    identity = await verifier.verify(token)
    assert identity.sub == "u-1"
    assert key_server.requests == 1
