"""Malformed and hostile login tokens: every one is a 401 (or a 422), never an identity or a 500.

Each token is built by hand in ``tests/support/tokens.py`` (raw segments, ``hmac``/``cryptography``
signatures), not by the code under test. The families follow RFC 8725 (JWT Best Current
Practices):

* ``alg``: §2.1 and §3.1 — the algorithm comes from the configuration, never from the token;
  ``none`` in any spelling, unconfigured algorithms, and key confusion: an HS256 token "signed"
  with the RSA public key (PEM, DER or JWK text) as the HMAC secret, the attack of
  CVE-2022-29217 (PyJWT < 2.4.0) and CVE-2017-11424 — must fail when the config says RS256.
* ``signature``: stripped, truncated, altered, empty, or made with another key (§3.1, §3.2).
* ``header``: parameters that would let the token choose its own key (``jku``, ``jwk``,
  ``x5u``, ``x5c``, ``x5t``), extensions (``crit``, ``b64``, RFC 7515 §4.1.11, RFC 7797),
  and ``kid`` values made for path traversal or SQL injection (§2.7, §3.10); §3.11 explicit
  typing (``typ``).
* ``encoding``: anything but canonical unpadded base64url of UTF-8 JSON objects (§3.2 "use
  UTF-8"; RFC 7515 §2, RFC 7519 §7.2), duplicate member names (RFC 7515 §5.2, RFC 8259 §4),
  deep nesting, wrong segment counts, oversize tokens.
* ``claims``: time claims that are not NumericDate numbers (RFC 7519 §2, §4.1.4), which PyJWT
  would coerce with ``int()``; ``sub`` abuse (control characters, bidi overrides for log and
  UI spoofing, lone surrogates, length); ``iss``/``aud`` mismatch (§3.8, §3.9), including the
  partial-match bug CVE-2024-53861 (PyJWT 2.10.0 compared ``iss`` with ``in``).

Cases flagged ``pyjwt_accepts`` are accepted by PyJWT's ``jwt.decode`` alone, with the same key
and options; ``test_pyjwt_alone_accepts_*`` proves it, so the table documents what the strict
layer adds.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import pytest
from pytest_aiohttp import AiohttpServer

from bridge.errors import SubjectMissing, TokenError, TokenInvalid
from bridge.login.keysets import KeySet
from bridge.login.verifier import Verifier
from bridge.settings.loading import parse_settings
from tests.support.tokens import (
    SECRET,
    WRONG_SECRET,
    b64std,
    b64url,
    ec_key,
    es,
    forge,
    hs,
    jwks,
    public_der,
    public_openssh,
    public_pem,
    public_pkcs1_pem,
    raw,
    rs,
    rsa_jwk,
    rsa_key,
    sign_segments,
    start_key_server,
)

NOW = int(time.time())  # real time, so that PyJWT (which reads the wall clock) can compare
ISSUER = "https://login.xsolla.com"
AUDIENCE = "support-bridge"
HS = {"alg": "HS256", "typ": "JWT"}
RS = {"alg": "RS256", "typ": "JWT", "kid": "login-1"}


def good(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "sub": "6d1c4d0a-9f1e-4a8e-9b7c-1f2e3d4c5b6a",
        "email": "player@example.com",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": NOW - 10,
        "exp": NOW + 3600,
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not ...}


def with_raw(placeholder: str, replacement: str, **overrides: Any) -> str:
    """The good payload as JSON text with ``"<placeholder>"`` replaced by raw JSON."""
    text = json.dumps(good(**overrides), separators=(",", ":"))
    assert f'"{placeholder}"' in text
    return text.replace(f'"{placeholder}"', replacement)


def hs_token(payload: Any = None, header: Any = None, secret: bytes = SECRET) -> str:
    return forge(
        HS if header is None else header, good() if payload is None else payload, hs(secret)
    )


def rs_token(payload: Any = None, header: Any = None) -> str:
    return forge(
        RS if header is None else header, good() if payload is None else payload, rs(rsa_key(0))
    )


def standard_alphabet() -> str:
    """Header and payload in standard base64 (a payload is chosen so that ``+/`` appear)."""
    for n in range(100):
        payload_b64 = b64std(raw(good(n="?" * n, m=">>>")))
        if "+" in payload_b64 or "/" in payload_b64:
            return sign_segments(b64std(raw(HS)), payload_b64, hs())
    raise AssertionError("no payload with + or / found")  # pragma: no cover


def padded() -> str:
    """A payload segment with its ``=`` padding, signed as it is."""
    for n in range(4):
        payload_b64 = b64url(raw(good(n="x" * n)))
        if len(payload_b64) % 4:
            return sign_segments(b64url(raw(HS)), payload_b64 + "=" * (-len(payload_b64) % 4), hs())
    raise AssertionError("no payload needing padding found")  # pragma: no cover


def length_4n_plus_1() -> str:
    """A payload segment of 4n+1 characters: no byte string encodes to that."""
    payload_b64 = b64url(raw(good()))
    return sign_segments(b64url(raw(HS)), payload_b64[: len(payload_b64) // 4 * 4] + "A", hs())


def non_canonical() -> str:
    """Unused trailing bits set in the payload segment: decodes like the canonical one."""
    token = hs_token()
    header_b64, payload_b64, _ = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    if len(payload_b64) % 4 == 0:  # pad the JSON with a space until a partial group remains
        payload_b64 = b64url(raw(good()) + b" ")
    last = alphabet.index(payload_b64[-1])
    tweaked = payload_b64[:-1] + alphabet[last + 1]
    return sign_segments(header_b64, tweaked, hs())


def nested(depth: int) -> str:
    return with_raw("DEEP", "[" * depth + "1" + "]" * depth, deep="DEEP")


def replace_signature(token: str, signature: str) -> str:
    return token.rsplit(".", 1)[0] + "." + signature


def flip_char(segment: str, index: int) -> str:
    char = segment[index]
    return segment[:index] + ("A" if char != "A" else "B") + segment[index + 1 :]


@dataclass(frozen=True)
class Case:
    id: str
    family: str
    build: Callable[[], str]
    config: str = "hs"  # "hs": HS256 + issuer + audience; "rs": RS256 from a JWKS
    expected: type[TokenError] = TokenInvalid
    reason: str | None = None
    pyjwt_accepts: bool = False


CASES = [
    # ------------------------------------------------------------ alg (RFC 8725 §2.1, §3.1)
    Case("alg-none-unsigned", "alg", lambda: forge({"alg": "none"}, good()), reason="malformed"),
    Case("alg-none-signed", "alg", lambda: hs_token(header={"alg": "none"}), reason="alg_none"),
    Case("alg-None", "alg", lambda: hs_token(header={"alg": "None"}), reason="alg_none"),
    Case("alg-NONE", "alg", lambda: hs_token(header={"alg": "NONE"}), reason="alg_none"),
    Case("alg-nOnE", "alg", lambda: hs_token(header={"alg": "nOnE"}), reason="alg_none"),
    Case(
        "alg-none-junk-signature",
        "alg",
        lambda: forge({"alg": "none"}, good(), signature="A"),
        reason="alg_none",
    ),
    Case(
        "alg-HS512-not-configured",
        "alg",
        lambda: forge({"alg": "HS512"}, good(), hs(SECRET, "HS512")),
        reason="alg_not_allowed",
    ),
    Case(
        "alg-lowercase-hs256",
        "alg",
        lambda: forge({"alg": "hs256"}, good(), hs()),
        reason="alg_not_allowed",
    ),
    Case("alg-missing", "alg", lambda: hs_token(header={"typ": "JWT"}), reason="alg_missing"),
    Case("alg-list", "alg", lambda: hs_token(header={"alg": ["HS256"]}), reason="alg_missing"),
    Case(
        "alg-RS256-on-hs-config",
        "alg",
        lambda: rs_token(header={"alg": "RS256"}),
        reason="alg_not_allowed",
    ),
    Case(
        "confusion-hs256-with-pem",
        "alg",
        lambda: forge(HS, good(), hs(public_pem(rsa_key(0)))),
        config="rs",
        reason="alg_not_allowed",
    ),
    Case(
        "confusion-hs256-with-der",
        "alg",
        lambda: forge(HS, good(), hs(public_der(rsa_key(0)))),
        config="rs",
        reason="alg_not_allowed",
    ),
    Case(
        "confusion-hs256-with-jwk-json",
        "alg",
        lambda: forge(HS, good(), hs(json.dumps(rsa_jwk(rsa_key(0), "login-1")).encode())),
        config="rs",
        reason="alg_not_allowed",
    ),
    Case(
        "confusion-hs256-with-kid-and-pem",
        "alg",
        lambda: forge({**HS, "kid": "login-1"}, good(), hs(public_pem(rsa_key(0)))),
        config="rs",
        reason="alg_not_allowed",
    ),
    Case(
        "alg-ES256-on-rs-config",
        "alg",
        lambda: forge({"alg": "ES256", "kid": "login-1"}, good(), es(ec_key(0))),
        config="rs",
        reason="alg_not_allowed",
    ),
    # ------------------------------------------------------------ signature (§3.1, §3.2)
    Case(
        "sig-stripped", "signature", lambda: replace_signature(hs_token(), ""), reason="malformed"
    ),
    Case(
        "sig-truncated",
        "signature",
        lambda: replace_signature(hs_token(), b64url(hs()(b"x")[:16])),
        reason="bad_signature",
    ),
    Case(
        "sig-one-char-changed",
        "signature",
        lambda: replace_signature(hs_token(), flip_char(hs_token().split(".")[2], 5)),
        reason="bad_signature",
    ),
    Case(
        "sig-zero-bytes",
        "signature",
        lambda: replace_signature(hs_token(), b64url(bytes(32))),
        reason="bad_signature",
    ),
    Case(
        "sig-wrong-secret",
        "signature",
        lambda: hs_token(secret=WRONG_SECRET),
        reason="bad_signature",
    ),
    Case(
        "sig-payload-swapped",
        "signature",
        lambda: ".".join(
            [hs_token().split(".")[0], b64url(raw(good(sub="admin"))), hs_token().split(".")[2]]
        ),
        reason="bad_signature",
    ),
    Case(
        "sig-rs-other-key",
        "signature",
        lambda: forge(RS, good(), rs(rsa_key(1))),
        config="rs",
        reason="bad_signature",
    ),
    Case(
        "sig-rs-unknown-kid",
        "signature",
        lambda: forge({**RS, "kid": "attacker"}, good(), rs(rsa_key(1))),
        config="rs",
        reason="unknown_kid",
    ),
    Case(
        "sig-rs-stripped",
        "signature",
        lambda: replace_signature(rs_token(), ""),
        config="rs",
        reason="malformed",
    ),
    Case(
        "sig-rs-one-char-changed",
        "signature",
        lambda: replace_signature(rs_token(), flip_char(rs_token().split(".")[2], 10)),
        config="rs",
        reason="bad_signature",
    ),
    # ------------------------------------------------------------ header (§2.7, §3.10, §3.11)
    Case(
        "hdr-jku",
        "header",
        lambda: hs_token(header={**HS, "jku": "https://evil.example/jwks.json"}),
        reason="header_param",
        pyjwt_accepts=True,
    ),
    Case(
        "hdr-jwk-embedded-attacker-key",
        "header",
        lambda: forge({**RS, "jwk": rsa_jwk(rsa_key(1), "login-1")}, good(), rs(rsa_key(1))),
        config="rs",
        reason="header_param",
    ),
    Case(
        "hdr-x5u",
        "header",
        lambda: hs_token(header={**HS, "x5u": "https://evil.example/cert.pem"}),
        reason="header_param",
        pyjwt_accepts=True,
    ),
    Case(
        "hdr-x5c",
        "header",
        lambda: hs_token(header={**HS, "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"]}),
        reason="header_param",
        pyjwt_accepts=True,
    ),
    Case(
        "hdr-x5t",
        "header",
        lambda: hs_token(header={**HS, "x5t": "dGh1bWJwcmludA"}),
        reason="header_param",
        pyjwt_accepts=True,
    ),
    Case(
        "hdr-crit-unknown",
        "header",
        lambda: hs_token(header={**HS, "crit": ["exp"], "exp": 1}),
        reason="header_param",
    ),
    Case(
        "hdr-b64-false",
        "header",
        lambda: hs_token(header={**HS, "b64": False, "crit": ["b64"]}),
        reason="header_param",
    ),
    Case(
        "hdr-cty-nested-jwt",
        "header",
        lambda: hs_token(header={**HS, "cty": "JWT"}),
        reason="header_param",
        pyjwt_accepts=True,
    ),
    Case(
        "hdr-zip",
        "header",
        lambda: hs_token(header={**HS, "zip": "DEF"}),
        reason="header_param",
        pyjwt_accepts=True,
    ),
    Case(
        "hdr-kid-path-traversal",
        "header",
        lambda: hs_token(header={**HS, "kid": "../../../../dev/null"}),
        reason="bad_kid",
        pyjwt_accepts=True,
    ),
    Case(
        "hdr-kid-sql-injection",
        "header",
        lambda: hs_token(header={**HS, "kid": "' OR 1=1 --"}),
        reason="bad_kid",
        pyjwt_accepts=True,
    ),
    Case(
        "hdr-kid-rs-path-traversal",
        "header",
        lambda: rs_token(header={**RS, "kid": "../../dev/null"}),
        config="rs",
        reason="bad_kid",
    ),
    Case("hdr-kid-int", "header", lambda: hs_token(header={**HS, "kid": 1}), reason="bad_kid"),
    Case("hdr-kid-null", "header", lambda: hs_token(header={**HS, "kid": None}), reason="bad_kid"),
    Case(
        "hdr-kid-129-chars",
        "header",
        lambda: hs_token(header={**HS, "kid": "k" * 129}),
        reason="bad_kid",
        pyjwt_accepts=True,
    ),
    Case(
        "hdr-typ-jwe",
        "header",
        lambda: hs_token(header={**HS, "typ": "JWE"}),
        reason="bad_typ",
        pyjwt_accepts=True,
    ),
    Case(
        "hdr-typ-int",
        "header",
        lambda: hs_token(header={**HS, "typ": 1}),
        reason="bad_typ",
        pyjwt_accepts=True,
    ),
    Case("hdr-array", "header", lambda: hs_token(header=["HS256"]), reason="not_object"),
    # ------------------------------------------------------------ encoding (§3.2, RFC 7515 §2)
    Case("enc-empty-string", "encoding", lambda: "", reason="malformed"),
    Case("enc-dots-only", "encoding", lambda: "..", reason="malformed"),
    Case("enc-two-segments", "encoding", lambda: hs_token().rsplit(".", 1)[0], reason="malformed"),
    Case("enc-four-segments", "encoding", lambda: hs_token() + ".AAAA", reason="malformed"),
    Case("enc-padding", "encoding", padded, reason="malformed", pyjwt_accepts=True),
    Case("enc-std-alphabet", "encoding", standard_alphabet, reason="malformed"),
    Case(
        "enc-space-inside",
        "encoding",
        lambda: sign_segments(
            b64url(raw(HS)), b64url(raw(good()))[:8] + " " + b64url(raw(good()))[8:], hs()
        ),
        reason="malformed",
    ),
    Case("enc-trailing-newline", "encoding", lambda: hs_token() + "\n", reason="malformed"),
    Case("enc-leading-space", "encoding", lambda: " " + hs_token(), reason="malformed"),
    Case(
        "enc-non-ascii",
        "encoding",
        lambda: sign_segments(b64url(raw(HS)), "é" + b64url(raw(good())), hs()),
        reason="malformed",
    ),
    Case("enc-non-canonical-base64", "encoding", non_canonical, reason="bad_base64"),
    Case("enc-segment-length-4n+1", "encoding", length_4n_plus_1, reason="bad_base64"),
    Case(
        "enc-invalid-utf8",
        "encoding",
        lambda: hs_token(payload=raw(good(sub="SUB")).replace(b'"SUB"', b'"\xff\xfe"')),
        reason="bad_utf8",
    ),
    Case(
        "enc-utf16-payload",
        "encoding",
        lambda: hs_token(payload=json.dumps(good()).encode("utf-16")),
        reason="bad_utf8",
        pyjwt_accepts=True,
    ),
    Case(
        "enc-utf16le-no-bom-payload",
        "encoding",
        lambda: hs_token(payload=json.dumps(good()).encode("utf-16-le")),
        reason="bad_json",
        pyjwt_accepts=True,
    ),
    Case(
        "enc-utf8-bom-header",
        "encoding",
        lambda: hs_token(header=b"\xef\xbb\xbf" + raw(HS)),
        reason="bom",
        pyjwt_accepts=True,
    ),
    Case(
        "enc-duplicate-alg",
        "encoding",
        lambda: hs_token(header='{"alg":"none","alg":"HS256","typ":"JWT"}'),
        reason="duplicate_key",
        pyjwt_accepts=True,
    ),
    Case(
        "enc-duplicate-sub",
        "encoding",
        lambda: hs_token(payload=with_raw("SUB", '"admin","sub":"6d1c4d0a"', sub="SUB")),
        reason="duplicate_key",
        pyjwt_accepts=True,
    ),
    Case(
        "enc-duplicate-exp",
        "encoding",
        lambda: hs_token(payload=with_raw("EXP", f'{NOW - 10},"exp":{NOW + 9999}', exp="EXP")),
        reason="duplicate_key",
        pyjwt_accepts=True,
    ),
    Case(
        "enc-deep-nesting",
        "encoding",
        lambda: hs_token(payload=nested(17)),
        reason="too_deep",
        pyjwt_accepts=True,
    ),
    Case(
        "enc-very-deep-nesting",
        "encoding",
        lambda: hs_token(payload=nested(2000)),
        reason="too_deep",
    ),
    Case(
        "enc-oversized",
        "encoding",
        lambda: hs_token(payload=good(pad="x" * 9000)),
        reason="too_large",
        pyjwt_accepts=True,
    ),
    Case("enc-payload-array", "encoding", lambda: hs_token(payload=[good()]), reason="not_object"),
    Case("enc-payload-string", "encoding", lambda: hs_token(payload='"sub"'), reason="not_object"),
    Case(
        "enc-payload-not-json",
        "encoding",
        lambda: hs_token(payload=b"sub=admin"),
        reason="bad_json",
    ),
    Case(
        "enc-payload-trailing-garbage",
        "encoding",
        lambda: hs_token(payload=raw(good()) + b"}"),
        reason="bad_json",
    ),
    # ------------------------------------------------------------ claims (RFC 7519 §2, §4.1)
    Case(
        "exp-string",
        "claims",
        lambda: hs_token(payload=good(exp=str(NOW + 3600))),
        reason="bad_time_claim",
        pyjwt_accepts=True,
    ),
    Case("exp-true", "claims", lambda: hs_token(payload=good(exp=True)), reason="bad_time_claim"),
    Case("exp-null", "claims", lambda: hs_token(payload=good(exp=None)), reason="bad_time_claim"),
    Case("exp-missing", "claims", lambda: hs_token(payload=good(exp=...)), reason="missing_exp"),
    Case(
        "exp-NaN",
        "claims",
        lambda: hs_token(payload=with_raw("EXP", "NaN", exp="EXP")),
        reason="bad_json",
    ),
    Case(
        "exp-Infinity",
        "claims",
        lambda: hs_token(payload=with_raw("EXP", "Infinity", exp="EXP")),
        reason="bad_json",
    ),
    Case(
        "exp-1e309",
        "claims",
        lambda: hs_token(payload=with_raw("EXP", "1e309", exp="EXP")),
        reason="bad_json",
    ),
    Case(
        "exp-huge-int",
        "claims",
        lambda: hs_token(payload=good(exp=2**64)),
        reason="bad_time_claim",
        pyjwt_accepts=True,
    ),
    Case(
        "exp-2-pow-53",
        "claims",
        lambda: hs_token(payload=good(exp=2**53)),
        reason="bad_time_claim",
        pyjwt_accepts=True,
    ),
    Case(
        "exp-5000-digits",
        "claims",
        lambda: hs_token(payload=with_raw("EXP", "9" * 5000, exp="EXP")),
        reason="bad_json",
    ),
    Case(
        "exp-list",
        "claims",
        lambda: hs_token(payload=good(exp=[NOW + 3600])),
        reason="bad_time_claim",
    ),
    Case(
        "exp-object",
        "claims",
        lambda: hs_token(payload=good(exp={"$gt": 0})),
        reason="bad_time_claim",
    ),
    Case("exp-negative", "claims", lambda: hs_token(payload=good(exp=-1)), reason="bad_time_claim"),
    Case(
        "iat-string",
        "claims",
        lambda: hs_token(payload=good(iat=str(NOW))),
        reason="bad_time_claim",
        pyjwt_accepts=True,
    ),
    Case(
        "iat-true",
        "claims",
        lambda: hs_token(payload=good(iat=True)),
        reason="bad_time_claim",
        pyjwt_accepts=True,
    ),
    Case(
        "iat-float-string",
        "claims",
        lambda: hs_token(payload=good(iat="1e3")),
        reason="bad_time_claim",
    ),
    Case(
        "nbf-string",
        "claims",
        lambda: hs_token(payload=good(nbf="0")),
        reason="bad_time_claim",
        pyjwt_accepts=True,
    ),
    Case(
        "nbf-false",
        "claims",
        lambda: hs_token(payload=good(nbf=False)),
        reason="bad_time_claim",
        pyjwt_accepts=True,
    ),
    Case("nbf-null", "claims", lambda: hs_token(payload=good(nbf=None)), reason="bad_time_claim"),
    Case(
        "nbf-Infinity",
        "claims",
        lambda: hs_token(payload=with_raw("NBF", "-Infinity", nbf="NBF")),
        reason="bad_json",
    ),
    Case(
        "iat-huge-int", "claims", lambda: hs_token(payload=good(iat=2**63)), reason="bad_time_claim"
    ),
    Case("expired", "claims", lambda: hs_token(payload=good(exp=NOW - 3600)), reason="expired"),
    Case(
        "nbf-future",
        "claims",
        lambda: hs_token(payload=good(nbf=NOW + 3600)),
        reason="not_yet_valid",
    ),
    # ------------------------------------------------------------ sub
    Case("sub-missing", "sub", lambda: hs_token(payload=good(sub=...)), expected=SubjectMissing),
    Case("sub-null", "sub", lambda: hs_token(payload=good(sub=None)), expected=SubjectMissing),
    Case("sub-empty", "sub", lambda: hs_token(payload=good(sub="")), expected=SubjectMissing),
    Case(
        "sub-whitespace", "sub", lambda: hs_token(payload=good(sub=" \t ")), expected=SubjectMissing
    ),
    Case("sub-int", "sub", lambda: hs_token(payload=good(sub=12345)), expected=SubjectMissing),
    Case("sub-list", "sub", lambda: hs_token(payload=good(sub=["admin"])), expected=SubjectMissing),
    Case(
        "sub-nul",
        "sub",
        lambda: hs_token(payload=good(sub="user\x00admin")),
        reason="bad_sub",
        pyjwt_accepts=True,
    ),
    Case(
        "sub-log-injection",
        "sub",
        lambda: hs_token(payload=good(sub="user\r\n200 OK sub=admin")),
        reason="bad_sub",
        pyjwt_accepts=True,
    ),
    Case(
        "sub-ansi-escape",
        "sub",
        lambda: hs_token(payload=good(sub="user\x1b[2J")),
        reason="bad_sub",
        pyjwt_accepts=True,
    ),
    Case(
        "sub-c1-control",
        "sub",
        lambda: hs_token(payload=good(sub="user\x9bid")),
        reason="bad_sub",
        pyjwt_accepts=True,
    ),
    Case(
        "sub-bidi-override",
        "sub",
        lambda: hs_token(payload=good(sub="user\u202enimda")),
        reason="bad_sub",
        pyjwt_accepts=True,
    ),
    Case(
        "sub-bidi-isolate",
        "sub",
        lambda: hs_token(payload=good(sub="\u2067user")),
        reason="bad_sub",
        pyjwt_accepts=True,
    ),
    Case(
        "sub-lone-surrogate",
        "sub",
        lambda: hs_token(payload=with_raw("SUB", '"user\\ud800"', sub="SUB")),
        reason="bad_sub",
        pyjwt_accepts=True,
    ),
    Case(
        "sub-leading-space",
        "sub",
        lambda: hs_token(payload=good(sub=" admin")),
        reason="bad_sub",
        pyjwt_accepts=True,
    ),
    Case(
        "sub-256-chars",
        "sub",
        lambda: hs_token(payload=good(sub="u" * 256)),
        reason="bad_sub",
        pyjwt_accepts=True,
    ),
    Case(
        "sub-100kb",
        "sub",
        lambda: hs_token(payload=good(sub="u" * 100_000)),
        reason="too_large",
        pyjwt_accepts=True,
    ),
    Case(
        "name-lone-surrogate",
        "sub",
        lambda: hs_token(payload=with_raw("NAME", '"\\udfff"', name="NAME")),
        reason="bad_unicode",
        pyjwt_accepts=True,
    ),
    Case(
        "sub-missing-bad-signature",
        "sub",
        lambda: hs_token(payload=good(sub=...), secret=WRONG_SECRET),
        reason="bad_signature",
    ),
    # ------------------------------------------------------------ iss / aud (§3.8, §3.9)
    Case(
        "iss-other",
        "iss-aud",
        lambda: hs_token(payload=good(iss="https://evil.example")),
        reason="bad_iss",
    ),
    Case(
        "iss-partial-match",
        "iss-aud",
        lambda: hs_token(payload=good(iss="https://login.xsolla")),
        reason="bad_iss",
    ),
    Case("iss-missing", "iss-aud", lambda: hs_token(payload=good(iss=...)), reason="bad_iss"),
    Case("iss-list", "iss-aud", lambda: hs_token(payload=good(iss=[ISSUER])), reason="bad_iss"),
    Case(
        "aud-other", "iss-aud", lambda: hs_token(payload=good(aud="another-app")), reason="bad_aud"
    ),
    Case("aud-missing", "iss-aud", lambda: hs_token(payload=good(aud=...)), reason="bad_aud"),
    Case(
        "aud-substring",
        "iss-aud",
        lambda: hs_token(payload=good(aud="support-bridge-evil")),
        reason="bad_aud",
    ),
    Case(
        "aud-non-string-list", "iss-aud", lambda: hs_token(payload=good(aud=[1])), reason="bad_aud"
    ),
]


def std_alphabet_signature() -> str:
    """A valid token whose signature segment is rewritten in the standard alphabet (``+/``)."""
    for n in range(200):
        token = hs_token(payload=good(n=n))
        signature = token.rsplit(".", 1)[1]
        if "-" in signature or "_" in signature:
            return replace_signature(token, signature.replace("-", "+").replace("_", "/"))
    raise AssertionError("no signature with - or _ found")  # pragma: no cover


def with_signature_bytes(token: str, change: Callable[[bytes], bytes]) -> str:
    signature = token.rsplit(".", 1)[1]
    decoded = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    return replace_signature(token, b64url(change(decoded)))


# More of the same families for the adversarial suite (tests/adversarial): further tricks from
# jwt_tool's attack playbook (ticarpi/jwt_tool wiki), PortSwigger's JWT attack labs, and the
# advisories of PyJWT (CVE-2017-11424, CVE-2022-29217: an OpenSSH or PKCS#1 public key used as
# the HMAC secret; CVE-2024-53861: partial issuer match; CVE-2026-32597: unknown ``crit``).
CASES += [
    # ------------------------------------------------------------ alg
    Case(
        "alg-none-trailing-space",
        "alg",
        lambda: hs_token(header={"alg": "none "}),
        reason="alg_not_allowed",
    ),
    Case(
        "alg-HS256-trailing-space",
        "alg",
        lambda: hs_token(header={"alg": "HS256 "}),
        reason="alg_not_allowed",
    ),
    Case(
        "alg-HS256-nul-suffix",
        "alg",
        lambda: hs_token(header={"alg": "HS256\u0000"}),
        reason="alg_not_allowed",
    ),
    Case("alg-empty", "alg", lambda: hs_token(header={"alg": ""}), reason="alg_not_allowed"),
    Case("alg-null", "alg", lambda: hs_token(header={"alg": None}), reason="alg_missing"),
    Case(
        "alg-ES256-on-hs-config",
        "alg",
        lambda: forge({"alg": "ES256"}, good(), es(ec_key(0))),
        reason="alg_not_allowed",
    ),
    Case(
        "alg-PS256-on-rs-config",
        "alg",
        lambda: forge({**RS, "alg": "PS256"}, good(), rs(rsa_key(0), "PS256")),
        config="rs",
        reason="alg_not_allowed",
    ),
    Case(
        "alg-none-on-rs-config",
        "alg",
        lambda: forge({"alg": "none", "kid": "login-1"}, good(), signature="AA"),
        config="rs",
        reason="alg_none",
    ),
    Case(
        "confusion-hs256-with-pkcs1-pem",
        "alg",
        lambda: forge(HS, good(), hs(public_pkcs1_pem(rsa_key(0)))),
        config="rs",
        reason="alg_not_allowed",
    ),
    Case(
        "confusion-hs256-with-openssh-key",
        "alg",
        lambda: forge(HS, good(), hs(public_openssh(rsa_key(0)))),
        config="rs",
        reason="alg_not_allowed",
    ),
    Case(
        "confusion-hs256-with-xsolla-hex-n",
        "alg",
        lambda: forge(HS, good(), hs(f"{rsa_key(0).public_key().public_numbers().n:x}".encode())),
        config="rs",
        reason="alg_not_allowed",
    ),
    Case(
        "confusion-hs384-with-pem",
        "alg",
        lambda: forge({"alg": "HS384"}, good(), hs(public_pem(rsa_key(0)), "HS384")),
        config="rs",
        reason="alg_not_allowed",
    ),
    # ------------------------------------------------------------ signature
    Case(
        "sig-hs512-bytes-under-hs256",
        "signature",
        lambda: replace_signature(
            hs_token(), b64url(hs(SECRET, "HS512")(hs_token().rsplit(".", 1)[0].encode()))
        ),
        reason="bad_signature",
    ),
    Case("sig-padded", "signature", lambda: hs_token() + "=", reason="malformed"),
    Case("sig-std-alphabet", "signature", std_alphabet_signature, reason="malformed"),
    Case(
        "sig-extra-byte",
        "signature",
        lambda: with_signature_bytes(hs_token(), lambda b: b + b"\x00"),
        reason="bad_signature",
    ),
    Case(
        "sig-doubled",
        "signature",
        lambda: with_signature_bytes(hs_token(), lambda b: b + b),
        reason="bad_signature",
    ),
    Case(
        "sig-first-byte-only",
        "signature",
        lambda: with_signature_bytes(hs_token(), lambda b: b[:1]),
        reason="bad_signature",
    ),
    Case(
        "sig-of-other-token",
        "signature",
        lambda: replace_signature(
            hs_token(payload=good(sub="admin")), hs_token().rsplit(".", 1)[1]
        ),
        reason="bad_signature",
    ),
    Case(
        "sig-rs-truncated",
        "signature",
        lambda: with_signature_bytes(rs_token(), lambda b: b[:128]),
        config="rs",
        reason="bad_signature",
    ),
    Case(
        "sig-rs-zero-bytes",
        "signature",
        lambda: replace_signature(rs_token(), b64url(bytes(256))),
        config="rs",
        reason="bad_signature",
    ),
    # ------------------------------------------------------------ header
    Case(
        "hdr-kid-nul",
        "header",
        lambda: hs_token(header={**HS, "kid": "login-1\u0000"}),
        reason="bad_kid",
        pyjwt_accepts=True,
    ),
    Case(
        "hdr-kid-url",
        "header",
        lambda: hs_token(header={**HS, "kid": "https://evil.example/key"}),
        reason="bad_kid",
        pyjwt_accepts=True,
    ),
    Case(
        "hdr-kid-command",
        "header",
        lambda: hs_token(header={**HS, "kid": "k|curl evil.example"}),
        reason="bad_kid",
        pyjwt_accepts=True,
    ),
    Case(
        "hdr-kid-empty",
        "header",
        lambda: hs_token(header={**HS, "kid": ""}),
        reason="bad_kid",
        pyjwt_accepts=True,
    ),
    Case(
        "hdr-kid-rs-sql-union",
        "header",
        lambda: rs_token(header={**RS, "kid": "x' UNION SELECT 'key"}),
        config="rs",
        reason="bad_kid",
    ),
    Case(
        "hdr-jku-rs-attacker-keys",
        "header",
        lambda: forge({**RS, "jku": "https://evil.example/jwks.json"}, good(), rs(rsa_key(1))),
        config="rs",
        reason="header_param",
    ),
    Case(
        "hdr-x5c-rs-attacker-chain",
        "header",
        lambda: forge({**RS, "x5c": [b64std(public_der(rsa_key(1)))]}, good(), rs(rsa_key(1))),
        config="rs",
        reason="header_param",
    ),
    Case(
        "hdr-crit-empty",
        "header",
        lambda: hs_token(header={**HS, "crit": []}),
        reason="header_param",
    ),
    Case(
        "hdr-enc-jwe-param",
        "header",
        lambda: hs_token(header={**HS, "enc": "A256GCM"}),
        reason="header_param",
        pyjwt_accepts=True,
    ),
    Case(
        "hdr-ALG-uppercase-name",
        "header",
        lambda: hs_token(header={"ALG": "HS256", "alg": "HS256"}),
        reason="header_param",
        pyjwt_accepts=True,
    ),
    Case(
        "hdr-typ-at+jwt",
        "header",
        lambda: hs_token(header={**HS, "typ": "at+jwt"}),
        reason="bad_typ",
        pyjwt_accepts=True,
    ),
    # ------------------------------------------------------------ encoding
    Case(
        "enc-overlong-utf8",
        "encoding",
        lambda: hs_token(payload=raw(good(sub="SUB")).replace(b'"SUB"', b'"\xc0\xaf"')),
        reason="bad_utf8",
    ),
    Case(
        "enc-cesu8-surrogate",
        "encoding",
        lambda: hs_token(payload=raw(good(sub="SUB")).replace(b'"SUB"', b'"\xed\xa0\x80"')),
        reason="bad_utf8",
    ),
    Case(
        "enc-utf32-payload",
        "encoding",
        lambda: hs_token(payload=json.dumps(good()).encode("utf-32")),
        reason="bad_utf8",
        pyjwt_accepts=True,
    ),
    Case(
        "enc-utf8-bom-payload",
        "encoding",
        lambda: hs_token(payload=b"\xef\xbb\xbf" + raw(good())),
        reason="bom",
        pyjwt_accepts=True,
    ),
    Case(
        "enc-json-comment",
        "encoding",
        lambda: hs_token(payload=with_raw("SUB", '"u" /* admin */', sub="SUB")),
        reason="bad_json",
    ),
    Case(
        "enc-single-quotes",
        "encoding",
        lambda: hs_token(payload=raw(good()).replace(b'"', b"'")),
        reason="bad_json",
    ),
    Case(
        "enc-trailing-comma",
        "encoding",
        lambda: hs_token(payload=raw(good())[:-1] + b",}"),
        reason="bad_json",
    ),
    Case(
        "enc-python-literal",
        "encoding",
        lambda: hs_token(payload=with_raw("V", "True", v="V")),
        reason="bad_json",
    ),
    Case("enc-header-null", "encoding", lambda: hs_token(header=b"null"), reason="not_object"),
    Case(
        "enc-deep-header",
        "encoding",
        lambda: hs_token(header='{"alg":"HS256","x":' + "[" * 40 + "]" * 40 + "}"),
        reason="too_deep",
    ),
    Case(
        "enc-oversized-kid",
        "encoding",
        lambda: hs_token(header={**HS, "kid": "k" * 9000}),
        reason="too_large",
    ),
    Case(
        "enc-tab-inside",
        "encoding",
        lambda: hs_token()[:10] + "\t" + hs_token()[10:],
        reason="malformed",
    ),
    Case(
        "enc-jwe-compact-five-parts",
        "encoding",
        lambda: ".".join(["eyJhbGciOiJSU0EtT0FFUCJ9", "AAAA", "AAAA", "AAAA", "AAAA"]),
        reason="malformed",
    ),
    # ------------------------------------------------------------ claims
    Case(
        "iat-NaN",
        "claims",
        lambda: hs_token(payload=with_raw("IAT", "NaN", iat="IAT")),
        reason="bad_json",
    ),
    Case(
        "exp-1e308",
        "claims",
        lambda: hs_token(payload=with_raw("EXP", "1e308", exp="EXP")),
        reason="bad_time_claim",
        pyjwt_accepts=True,
    ),
    Case(
        "exp-hex-string",
        "claims",
        lambda: hs_token(payload=good(exp="0x7fffffff")),
        reason="bad_time_claim",
    ),
    Case(
        "exp-empty-string",
        "claims",
        lambda: hs_token(payload=good(exp="")),
        reason="bad_time_claim",
    ),
    Case("exp-false", "claims", lambda: hs_token(payload=good(exp=False)), reason="bad_time_claim"),
    Case(
        "iat-negative",
        "claims",
        lambda: hs_token(payload=good(iat=-1)),
        reason="bad_time_claim",
        pyjwt_accepts=True,
    ),
    Case(
        "nbf-2-pow-53", "claims", lambda: hs_token(payload=good(nbf=2**53)), reason="bad_time_claim"
    ),
    Case(
        "iat-future",
        "claims",
        lambda: hs_token(payload=good(iat=NOW + 3600)),
        reason="iat_in_future",
    ),
    # ------------------------------------------------------------ sub
    Case(
        "sub-line-separator",
        "sub",
        lambda: hs_token(payload=good(sub="user\u2028admin")),
        reason="bad_sub",
        pyjwt_accepts=True,
    ),
    Case(
        "sub-del",
        "sub",
        lambda: hs_token(payload=good(sub="user\x7f")),
        reason="bad_sub",
        pyjwt_accepts=True,
    ),
    Case(
        "sub-bom",
        "sub",
        lambda: hs_token(payload=good(sub="\ufeffadmin")),
        reason="bad_sub",
        pyjwt_accepts=True,
    ),
    Case(
        "sub-trailing-newline",
        "sub",
        lambda: hs_token(payload=good(sub="admin\n")),
        reason="bad_sub",
        pyjwt_accepts=True,
    ),
    Case(
        "sub-lrm",
        "sub",
        lambda: hs_token(payload=good(sub="\u200eadmin")),
        reason="bad_sub",
        pyjwt_accepts=True,
    ),
    Case("sub-true", "sub", lambda: hs_token(payload=good(sub=True)), expected=SubjectMissing),
    Case(
        "sub-object",
        "sub",
        lambda: hs_token(payload=good(sub={"id": "admin"})),
        expected=SubjectMissing,
    ),
    # ------------------------------------------------------------ iss / aud
    Case(
        "iss-trailing-slash",
        "iss-aud",
        lambda: hs_token(payload=good(iss=ISSUER + "/")),
        reason="bad_iss",
    ),
    Case(
        "iss-uppercase",
        "iss-aud",
        lambda: hs_token(payload=good(iss=ISSUER.upper())),
        reason="bad_iss",
    ),
    Case(
        "iss-trailing-space",
        "iss-aud",
        lambda: hs_token(payload=good(iss=ISSUER + " ")),
        reason="bad_iss",
    ),
    Case("iss-null", "iss-aud", lambda: hs_token(payload=good(iss=None)), reason="bad_iss"),
    Case(
        "iss-suffix-lookalike",
        "iss-aud",
        lambda: hs_token(payload=good(iss=ISSUER + ".evil.example")),
        reason="bad_iss",
    ),
    Case("aud-empty-list", "iss-aud", lambda: hs_token(payload=good(aud=[])), reason="bad_aud"),
    Case("aud-null", "iss-aud", lambda: hs_token(payload=good(aud=None)), reason="bad_aud"),
    Case(
        "aud-case",
        "iss-aud",
        lambda: hs_token(payload=good(aud=AUDIENCE.title())),
        reason="bad_aud",
    ),
    Case(
        "aud-nested-list",
        "iss-aud",
        lambda: hs_token(payload=good(aud=[[AUDIENCE]])),
        reason="bad_aud",
    ),
]


def settings_for(config: str, keys_url: str | None = None) -> Any:
    upstream: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE}
    if config == "hs":
        upstream |= {"algorithms": ["HS256"], "secrets": [{"value": SECRET.decode()}]}
    else:
        upstream |= {"algorithms": ["RS256"], "keys_url": keys_url}
    return parse_settings(
        {
            "upstream": upstream,
            "targets": {"chat": {"type": "zendesk_chat", "secret": {"value": "z" * 32}}},
        },
        environ={},
    ).upstream


VerifierFactory = Callable[[str], Awaitable[Verifier]]


@pytest.fixture
async def make_verifier(aiohttp_server: AiohttpServer) -> AsyncIterator[VerifierFactory]:
    async with aiohttp.ClientSession() as session:

        async def make(config: str) -> Verifier:
            if config == "hs":
                return Verifier(settings_for("hs"), clock=lambda: NOW)
            server = await start_key_server(aiohttp_server, jwks(rsa_jwk(rsa_key(0), "login-1")))
            settings = settings_for("rs", server.url)
            keyset = KeySet(session, server.url, family="RSA")
            return Verifier(settings, keyset=keyset, clock=lambda: NOW)

        yield make


def test_the_table_is_large_and_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 45
    assert {case.family for case in CASES} == {
        "alg",
        "signature",
        "header",
        "encoding",
        "claims",
        "sub",
        "iss-aud",
    }


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_hostile_token_is_rejected(case: Case, make_verifier: VerifierFactory) -> None:
    verifier = await make_verifier(case.config)
    token = case.build()
    with pytest.raises(TokenError) as caught:
        await verifier.verify(token)
    assert type(caught.value) is case.expected
    if case.reason is not None:
        assert caught.value.reason == case.reason
    assert caught.value.status in (401, 422)


async def test_the_untouched_tokens_are_accepted(make_verifier: VerifierFactory) -> None:
    """The table's base tokens are valid, so each case fails for its own defect."""
    assert (await (await make_verifier("hs")).verify(hs_token())).sub
    assert (await (await make_verifier("rs")).verify(rs_token())).sub


PYJWT_ACCEPTS = [case for case in CASES if case.pyjwt_accepts]


@pytest.mark.parametrize("case", PYJWT_ACCEPTS, ids=[case.id for case in PYJWT_ACCEPTS])
def test_pyjwt_alone_accepts_what_the_strict_layer_rejects(case: Case) -> None:
    assert case.config == "hs"
    jwt.decode(
        case.build(),
        SECRET,
        algorithms=["HS256"],
        options={"require": ["exp"], "verify_sub": False},
        issuer=ISSUER,
        audience=AUDIENCE,
        leeway=30,
    )
