"""Verifier: the login token becomes an Identity, or a 401 / 422 with a reason."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pytest
from pytest_aiohttp import AiohttpServer

from bridge.errors import KeysUnavailable, SubjectMissing, TokenInvalid
from bridge.login.identity import Identity
from bridge.login.keysets import KeySet
from bridge.login.verifier import Verifier
from bridge.settings.loading import parse_settings
from bridge.settings.login import LoginSystemSettings
from tests.support.tokens import (
    OTHER_SECRET,
    SECRET,
    WRONG_SECRET,
    KeyServer,
    ec_jwk,
    ec_key,
    es,
    forge,
    hs,
    hs256,
    jwks,
    rs,
    rsa_jwk,
    rsa_key,
    start_key_server,
)

NOW = 1_700_000_000
ISSUER = "https://login.xsolla.com"


def upstream(**options: Any) -> LoginSystemSettings:
    data: dict[str, Any] = {
        "algorithms": ["HS256"],
        "secrets": [{"value": SECRET.decode()}],
        **options,
    }
    return parse_settings(
        {
            "upstream": data,
            "targets": {"chat": {"type": "zendesk_chat", "secret": {"value": "z" * 32}}},
        },
        environ={},
    ).upstream


def verifier(**options: Any) -> Verifier:
    return Verifier(upstream(**options), clock=lambda: NOW)


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sub": "6d1c4d0a-9f1e-4a8e-9b7c-1f2e3d4c5b6a",
        "email": "player@example.com",
        "iss": ISSUER,
        "iat": NOW - 60,
        "exp": NOW + 3600,
        "username": "player_one",
        "groups": [{"id": 1, "name": "default", "is_default": True}],
        "xsolla_login_project_id": "0c2e3f1a-aaaa-bbbb-cccc-000000000000",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


async def reason_of(verifier: Verifier, token: str) -> str:
    with pytest.raises(TokenInvalid) as caught:
        await verifier.verify(token)
    return caught.value.reason


# ---------------------------------------------------------------- HS256


async def test_valid_hs256_token_gives_the_identity() -> None:
    identity = await verifier().verify(hs256(claims()))
    assert identity == Identity(
        sub="6d1c4d0a-9f1e-4a8e-9b7c-1f2e3d4c5b6a",
        email="player@example.com",
        claims=identity.claims,
        expires_at=NOW + 3600,
    )
    assert identity.claims["groups"][0]["name"] == "default"
    assert identity.claims["xsolla_login_project_id"].startswith("0c2e")


async def test_identity_claims_are_read_only() -> None:
    identity = await verifier().verify(hs256(claims()))
    with pytest.raises(TypeError):
        identity.claims["sub"] = "someone-else"  # type: ignore[index]


async def test_fractional_exp_is_truncated_into_expires_at() -> None:
    identity = await verifier().verify(hs256(claims(exp=NOW + 100.9)))
    assert identity.expires_at == NOW + 100


async def test_lowercase_typ_and_a_kid_are_accepted_with_hs() -> None:
    token = forge({"alg": "HS256", "typ": "jwt", "kid": "login-2024"}, claims(), hs())
    assert (await verifier().verify(token)).sub


async def test_token_without_typ_is_accepted() -> None:
    assert (await verifier().verify(forge({"alg": "HS256"}, claims(), hs()))).sub


@pytest.mark.parametrize("secret", [SECRET, OTHER_SECRET], ids=["current", "previous"])
async def test_token_signed_with_any_rotated_secret_is_accepted(secret: bytes) -> None:
    rotated = verifier(secrets=[{"value": SECRET.decode()}, {"value": OTHER_SECRET.decode()}])
    assert (await rotated.verify(hs256(claims(), secret=secret))).sub


async def test_token_signed_with_an_unknown_secret_is_rejected() -> None:
    rotated = verifier(secrets=[{"value": SECRET.decode()}, {"value": OTHER_SECRET.decode()}])
    assert await reason_of(rotated, hs256(claims(), secret=WRONG_SECRET)) == "bad_signature"


async def test_hs384_and_hs512_when_configured() -> None:
    both = verifier(algorithms=["HS384", "HS512"])
    for alg in ("HS384", "HS512"):
        assert (await both.verify(forge({"alg": alg}, claims(), hs(SECRET, alg)))).sub
    assert await reason_of(both, hs256(claims())) == "alg_not_allowed"


async def test_hs512_signature_under_an_hs256_header_is_rejected() -> None:
    token = forge({"alg": "HS256"}, claims(), hs(SECRET, "HS512"))
    assert await reason_of(verifier(), token) == "bad_signature"


# ---------------------------------------------------------------- time


async def test_expired_token_is_rejected() -> None:
    assert await reason_of(verifier(), hs256(claims(exp=NOW - 31))) == "expired"


@pytest.mark.parametrize(
    ("leeway", "exp", "accepted"),
    [
        (30, NOW - 29, True),
        (30, NOW - 30, False),  # exp <= now - leeway, like PyJWT
        (0, NOW + 1, True),
        (0, NOW, False),
        (120, NOW - 119, True),
    ],
)
async def test_leeway_is_honoured_for_exp(leeway: int, exp: int, accepted: bool) -> None:
    check = verifier(leeway=leeway)
    if accepted:
        assert (await check.verify(hs256(claims(exp=exp)))).expires_at == exp
    else:
        assert await reason_of(check, hs256(claims(exp=exp))) == "expired"


async def test_nbf_in_the_future_is_rejected() -> None:
    assert await reason_of(verifier(), hs256(claims(nbf=NOW + 31))) == "not_yet_valid"


async def test_nbf_within_the_leeway_is_accepted() -> None:
    assert (await verifier().verify(hs256(claims(nbf=NOW + 30)))).sub


async def test_iat_in_the_future_is_rejected() -> None:
    assert await reason_of(verifier(), hs256(claims(iat=NOW + 3600))) == "iat_in_future"


async def test_missing_exp_is_rejected() -> None:
    assert await reason_of(verifier(), hs256(claims(exp=...))) == "missing_exp"


async def test_clock_is_read_per_verification() -> None:
    now = [float(NOW)]
    check = Verifier(upstream(leeway=0), clock=lambda: now[0])
    token = hs256(claims(exp=NOW + 10))
    assert (await check.verify(token)).sub
    now[0] += 10
    assert await reason_of(check, token) == "expired"


# ---------------------------------------------------------------- issuer and audience


async def test_issuer_matches_when_configured() -> None:
    assert (await verifier(issuer=ISSUER).verify(hs256(claims()))).sub


@pytest.mark.parametrize(
    "iss",
    [
        "https://login.xsolla.com.evil.example",
        "https://login.xsolla",  # a substring of the issuer (CVE-2024-53861)
        "https://LOGIN.xsolla.com",
        "",
        [ISSUER],
        None,
        ...,
    ],
    ids=["other", "substring", "case", "empty", "list", "null", "missing"],
)
async def test_wrong_issuer_is_rejected(iss: Any) -> None:
    assert await reason_of(verifier(issuer=ISSUER), hs256(claims(iss=iss))) == "bad_iss"


async def test_any_string_issuer_is_accepted_when_none_is_configured() -> None:
    assert (await verifier().verify(hs256(claims(iss="https://other.example")))).sub
    assert (await verifier().verify(hs256(claims(iss=...)))).sub
    assert await reason_of(verifier(), hs256(claims(iss=42))) == "bad_iss"


@pytest.mark.parametrize(
    ("configured", "aud"),
    [
        ("bridge", "bridge"),
        ("bridge", ["other", "bridge"]),
        (["bridge", "support"], "support"),
        (["bridge", "support"], ["x", "support"]),
    ],
)
async def test_audience_matches_when_configured(configured: Any, aud: Any) -> None:
    assert (await verifier(audience=configured).verify(hs256(claims(aud=aud)))).sub


@pytest.mark.parametrize(
    "aud",
    ["other", ["other"], [], "", ["bridge", 1], {"bridge": True}, 1, None, ...],
    ids=[
        "other",
        "other-list",
        "empty-list",
        "empty",
        "mixed-list",
        "object",
        "int",
        "null",
        "missing",
    ],
)
async def test_wrong_audience_is_rejected(aud: Any) -> None:
    assert await reason_of(verifier(audience="bridge"), hs256(claims(aud=aud))) == "bad_aud"


async def test_token_for_an_audience_is_rejected_when_none_is_configured() -> None:
    assert await reason_of(verifier(), hs256(claims(aud="someone"))) == "bad_aud"
    assert (await verifier().verify(hs256(claims(aud=[])))).sub  # empty, like PyJWT


REAL_CLAIM_CASES: list[Any] = [
    pytest.param({}, {}, id="plain"),
    pytest.param({"exp": -100}, {}, id="expired"),
    pytest.param({"exp": -20}, {}, id="expired-within-leeway"),
    pytest.param({"nbf": 100}, {}, id="nbf-future"),
    pytest.param({"nbf": 20}, {}, id="nbf-within-leeway"),
    pytest.param({"iat": 100}, {}, id="iat-future"),
    pytest.param({"iss": "https://login.xsolla"}, {"issuer": ISSUER}, id="iss-substring"),
    pytest.param({"iss": ISSUER}, {"issuer": ISSUER}, id="iss-ok"),
    pytest.param({"aud": "a"}, {}, id="aud-unexpected"),
    pytest.param({"aud": ["a", "b"]}, {"audience": "b"}, id="aud-in-list"),
    pytest.param({"aud": "c"}, {"audience": ["a", "b"]}, id="aud-mismatch"),
    pytest.param({}, {"audience": "a"}, id="aud-missing"),
]


@pytest.mark.parametrize(("offsets", "options"), REAL_CLAIM_CASES)
async def test_claim_checks_agree_with_pyjwt(
    offsets: dict[str, Any], options: dict[str, Any]
) -> None:
    """On well-formed tokens, the verdict is PyJWT's (same leeway, iss, aud semantics)."""
    now = int(time.time())
    payload: dict[str, Any] = {"sub": "u-1", "exp": now + 3600}
    for name, value in offsets.items():
        payload[name] = now + value if name in ("exp", "nbf", "iat") else value
    token = hs256(payload)
    settings = upstream(leeway=30, **options)
    try:
        jwt.decode(
            token,
            SECRET,
            algorithms=["HS256"],
            options={"require": ["exp"], "verify_sub": False},
            issuer=settings.issuer,
            audience=settings.audience,
            leeway=settings.leeway,
        )
        pyjwt_accepts = True
    except jwt.PyJWTError:
        pyjwt_accepts = False
    try:
        await Verifier(settings).verify(token)
        we_accept = True
    except TokenInvalid:
        we_accept = False
    assert we_accept == pyjwt_accepts


# ---------------------------------------------------------------- sub


@pytest.mark.parametrize(
    "sub",
    [..., None, "", "   ", "\t\n", 42, 0, True, ["u-1"], {"id": "u-1"}],
    ids=[
        "missing",
        "null",
        "empty",
        "spaces",
        "tab-newline",
        "int",
        "zero",
        "bool",
        "list",
        "object",
    ],
)
async def test_missing_or_unusable_sub_is_422(sub: Any) -> None:
    with pytest.raises(SubjectMissing) as caught:
        await verifier().verify(hs256(claims(sub=sub)))
    assert caught.value.status == 422
    assert caught.value.code == "00-02"


@pytest.mark.parametrize(
    "sub",
    [
        "user\x00id",
        "user\nid",
        "user\x1bid",
        "user\x7fid",
        "user\x85id",
        "user\u202eid",
        "user\u2066id",
        "user\u200fid",
        "user\u2028id",
        " user",
        "user ",
        "x" * 256,
    ],
    ids=[
        "nul",
        "newline",
        "escape",
        "del",
        "c1",
        "rlo",
        "lri",
        "rlm",
        "line-sep",
        "lead-space",
        "trail-space",
        "256-chars",
    ],
)
async def test_unsafe_sub_is_401_bad_sub(sub: str) -> None:
    assert await reason_of(verifier(), hs256(claims(sub=sub))) == "bad_sub"


async def test_lone_surrogate_sub_is_401_bad_sub() -> None:
    payload = json.dumps(claims(sub="SUB")).replace('"SUB"', '"user\\ud800"')
    assert await reason_of(verifier(), forge({"alg": "HS256"}, payload, hs())) == "bad_sub"


async def test_lone_surrogate_elsewhere_in_the_payload_is_401() -> None:
    payload = json.dumps(claims(name="NAME")).replace('"NAME"', '"\\udc00x"')
    assert await reason_of(verifier(), forge({"alg": "HS256"}, payload, hs())) == "bad_unicode"


async def test_surrogate_pair_escape_is_fine() -> None:
    payload = json.dumps(claims(name="NAME")).replace('"NAME"', '"Zo\\u00eb \\ud83c\\udfae"')
    identity = await verifier().verify(forge({"alg": "HS256"}, payload, hs()))
    assert identity.display_name(["name"]) == "Zoë \U0001f3ae"


@pytest.mark.parametrize("sub", ["x" * 255, "Zoë-игрок-玩家", "user@example.com", "123"])
async def test_unusual_but_safe_sub_is_accepted(sub: str) -> None:
    assert (await verifier().verify(hs256(claims(sub=sub)))).sub == sub


async def test_missing_sub_with_a_bad_signature_is_401_not_422() -> None:
    token = hs256(claims(sub=...), secret=WRONG_SECRET)
    assert await reason_of(verifier(), token) == "bad_signature"


async def test_missing_sub_in_an_expired_token_is_401_not_422() -> None:
    assert await reason_of(verifier(), hs256(claims(sub=..., exp=NOW - 100))) == "expired"


# ---------------------------------------------------------------- email and display name


@pytest.mark.parametrize(
    ("email", "kept"),
    [
        ("player@example.com", True),
        ("first.last+tag@sub.example.co.uk", True),
        ("Zoë@exämple.com", True),
        ("a@b", True),
        (f"{'a' * 64}@{'b' * 189}", True),  # 254 characters
        (f"{'a' * 64}@{'b' * 190}", False),  # 255 characters
        ("", False),
        ("   ", False),
        ("player", False),
        ("@example.com", False),
        ("player@", False),
        ("a@b@c", False),
        ("player @example.com", False),
        (" player@example.com", False),
        ("player@example.com\n", False),
        ("player@example.com\r\nBcc: x@y", False),
        ("player\u202e@example.com", False),
        ("player\x00@example.com", False),
        (None, False),
        (42, False),
        (["player@example.com"], False),
        (..., False),
    ],
)
async def test_email_is_kept_only_when_sane(email: Any, kept: bool) -> None:
    identity = await verifier().verify(hs256(claims(email=email)))
    assert identity.email == (email if kept else None)


@pytest.mark.parametrize(
    ("names", "extra", "expected"),
    [
        (["name", "username", "email"], {"name": "Zoë"}, "Zoë"),
        (["name", "username", "email"], {}, "player_one"),
        (["username", "name"], {"name": "Zoë"}, "player_one"),
        (["name", "email"], {"username": ...}, "player@example.com"),
        (["name", "username", "email"], {"name": "  ", "username": ""}, "player@example.com"),
        (["name", "username"], {"name": "  padded  "}, "padded"),
        (["name", "username"], {"name": "bad\u202ename"}, "player_one"),
        (["name", "username"], {"name": "bad\x00name"}, "player_one"),
        (["name", "username"], {"name": "n" * 256}, "player_one"),
        (["name"], {"name": "n" * 255}, "n" * 255),
        (["name", "username"], {"name": 42}, "player_one"),
        (["name", "username"], {"name": ["Zoë"]}, "player_one"),
        (["email"], {"email": "not an email"}, None),
        (["nickname"], {}, None),
    ],
)
async def test_display_name_takes_the_first_sane_claim(
    names: list[str], extra: dict[str, Any], expected: str | None
) -> None:
    identity = await verifier().verify(hs256(claims(**extra)))
    assert identity.display_name(names) == expected


# ---------------------------------------------------------------- RS / PS / ES with a key set


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def key_server(aiohttp_server: AiohttpServer) -> KeyServer:
    return await start_key_server(
        aiohttp_server,
        jwks(
            rsa_jwk(rsa_key(0), "rsa-0"),
            rsa_jwk(rsa_key(1), "rsa-1"),
            ec_jwk(ec_key(0), "ec-256"),
            ec_jwk(ec_key(0, "P-384"), "ec-384"),
        ),
    )


def asymmetric(
    session: aiohttp.ClientSession, key_server: KeyServer, algorithms: list[str]
) -> Verifier:
    settings = upstream(algorithms=algorithms, secrets=[], keys_url=key_server.url)
    keyset = KeySet(session, key_server.url, family=settings.family)
    return Verifier(settings, keyset=keyset, clock=lambda: NOW)


async def test_rs256_token_with_kid(session: aiohttp.ClientSession, key_server: KeyServer) -> None:
    check = asymmetric(session, key_server, ["RS256"])
    token = forge({"alg": "RS256", "typ": "JWT", "kid": "rsa-1"}, claims(), rs(rsa_key(1)))
    assert (await check.verify(token)).email == "player@example.com"


async def test_rs256_token_without_kid(
    session: aiohttp.ClientSession, key_server: KeyServer
) -> None:
    check = asymmetric(session, key_server, ["RS256"])
    assert (await check.verify(forge({"alg": "RS256"}, claims(), rs(rsa_key(1))))).sub


async def test_rs256_kid_must_name_the_signing_key(
    session: aiohttp.ClientSession, key_server: KeyServer
) -> None:
    check = asymmetric(session, key_server, ["RS256"])
    token = forge({"alg": "RS256", "kid": "rsa-0"}, claims(), rs(rsa_key(1)))
    assert await reason_of(check, token) == "bad_signature"
    token = forge({"alg": "RS256", "kid": "rsa-9"}, claims(), rs(rsa_key(1)))
    assert await reason_of(check, token) == "unknown_kid"


async def test_ps256_token(session: aiohttp.ClientSession, key_server: KeyServer) -> None:
    check = asymmetric(session, key_server, ["PS256"])
    token = forge({"alg": "PS256", "kid": "rsa-0"}, claims(), rs(rsa_key(0), "PS256"))
    assert (await check.verify(token)).sub
    token = forge({"alg": "PS256", "kid": "rsa-0"}, claims(), rs(rsa_key(0), "RS256"))
    assert await reason_of(check, token) == "bad_signature"


async def test_es256_token(session: aiohttp.ClientSession, key_server: KeyServer) -> None:
    check = asymmetric(session, key_server, ["ES256"])
    token = forge({"alg": "ES256", "kid": "ec-256"}, claims(), es(ec_key(0)))
    assert (await check.verify(token)).sub
    assert (await check.verify(forge({"alg": "ES256"}, claims(), es(ec_key(0))))).sub


async def test_es384_token_signed_with_a_p256_key_is_rejected(
    session: aiohttp.ClientSession, key_server: KeyServer
) -> None:
    check = asymmetric(session, key_server, ["ES256", "ES384"])
    good = forge({"alg": "ES384", "kid": "ec-384"}, claims(), es(ec_key(0, "P-384"), "ES384"))
    assert (await check.verify(good)).sub
    token = forge({"alg": "ES384", "kid": "ec-256"}, claims(), es(ec_key(0), "ES384"))
    assert await reason_of(check, token) == "bad_signature"


async def test_rs256_with_keys_never_fetched_is_keys_unavailable(
    session: aiohttp.ClientSession, key_server: KeyServer
) -> None:
    key_server.status = 502
    check = asymmetric(session, key_server, ["RS256"])
    token = forge({"alg": "RS256", "kid": "rsa-0"}, claims(), rs(rsa_key(0)))
    with pytest.raises(KeysUnavailable):
        await check.verify(token)


async def test_strict_layer_runs_before_any_key_fetch(
    session: aiohttp.ClientSession, key_server: KeyServer
) -> None:
    check = asymmetric(session, key_server, ["RS256"])
    token = forge({"alg": "RS256", "jku": "https://evil.example/keys"}, claims(), rs(rsa_key(0)))
    assert await reason_of(check, token) == "header_param"
    assert key_server.requests == 0


# ---------------------------------------------------------------- construction


def test_hs_verifier_refuses_a_key_set() -> None:
    with pytest.raises(ValueError, match="secrets"):
        Verifier(upstream(), keyset=KeySet(None, "http://x/", family="RSA"))  # type: ignore[arg-type]


def test_rs_verifier_needs_a_key_set() -> None:
    with pytest.raises(ValueError, match="key set"):
        Verifier(upstream(algorithms=["RS256"], secrets=[], keys_url="http://127.0.0.1/keys"))


def test_key_set_family_must_match() -> None:
    settings = upstream(algorithms=["ES256"], secrets=[], keys_url="http://127.0.0.1/keys")
    with pytest.raises(ValueError, match="RSA"):
        Verifier(settings, keyset=KeySet(None, "http://x/", family="RSA"))  # type: ignore[arg-type]


async def test_errors_never_contain_the_token_or_claims() -> None:
    token = hs256(claims(sub="secret-user-id\u202e", email="leak@example.com"))
    with pytest.raises(TokenInvalid) as caught:
        await verifier().verify(token)
    text = f"{caught.value!s} {caught.value!r} {caught.value.args}"
    assert "secret-user-id" not in text
    assert token[:20] not in text


@pytest.mark.parametrize(
    ("said", "system_vouches", "email", "verified"),
    [
        (..., False, "player@example.com", False),
        (True, False, "player@example.com", True),
        ("true", False, "player@example.com", True),
        ("TRUE", False, "player@example.com", True),
        (False, False, None, False),
        ("false", False, None, False),
        ("False", True, None, False),  # a system's vouching never revives a disowned email
        (None, True, "player@example.com", True),
        ("yes", False, "player@example.com", False),  # not a boolean: nothing said
        (0, False, "player@example.com", False),
    ],
)
async def test_email_verified_decides_whether_the_email_is_used_and_vouched_for(
    said: Any, system_vouches: bool, email: str | None, verified: bool
) -> None:
    v = verifier(emails_verified=system_vouches)
    identity = await v.verify(hs256(claims(email_verified=said)))
    assert (identity.email, identity.email_verified) == (email, verified)
    assert ("email" in identity.claims) is (email is not None)


async def test_the_subject_prefix_and_the_project_are_the_identitys() -> None:
    project = "0c2e3f1a-aaaa-4bbb-8ccc-000000000000"
    v = verifier(subject_prefix="shop:", project_id=project)
    identity = await v.verify(hs256(claims(xsolla_login_project_id=project)))
    assert (identity.sub, identity.project) == (
        "shop:6d1c4d0a-9f1e-4a8e-9b7c-1f2e3d4c5b6a",
        project,
    )
    for other in ("0c2e3f1a-aaaa-bbbb-cccc-000000000000", project.upper(), [project], ...):
        assert await reason_of(v, hs256(claims(xsolla_login_project_id=other))) == (
            "unknown_project"
        )
