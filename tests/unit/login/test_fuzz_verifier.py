"""Property-based fuzzing of the login-token verifier (Hypothesis).

Three sources of tokens, all checked against one HS256 verifier (issuer set, no audience):

* arbitrary text: never an identity, only ``TokenError``;
* structured tokens: random headers (any ``alg``, extra parameters), random payloads (claims of
  every JSON type, extra members), signed with the right secret, a wrong one, or not at all,
  sometimes with the segments encoded wrongly. An identity comes out only if the signature is
  valid under the configured secret (checked here with ``hmac``, independently of the code
  under test) and the claims are sound;
* mutations of one valid token (characters inserted, deleted, replaced; segments swapped or
  repeated): an identity comes out only for the untouched token, since canonical base64url
  makes every other string a different signing input or signature.

Whatever the input, nothing but a ``TokenError`` may escape.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from collections.abc import Coroutine
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from bridge.errors import SubjectMissing, TokenError
from bridge.login.identity import Identity
from bridge.login.verifier import Verifier
from bridge.settings.loading import parse_settings
from tests.support.fuzz import fuzz
from tests.support.tokens import SECRET, WRONG_SECRET, b64std, b64url, forge, hs

NOW = 1_700_000_000
ISSUER = "https://login.xsolla.com"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def make_verifier() -> Verifier:
    settings = parse_settings(
        {
            "upstream": {
                "algorithms": ["HS256"],
                "secrets": [{"value": SECRET.decode()}],
                "issuer": ISSUER,
            },
            "targets": {"chat": {"type": "zendesk_chat", "secret": {"value": "z" * 32}}},
        },
        environ={},
    )
    return Verifier(settings.upstream, clock=lambda: NOW)


VERIFIER = make_verifier()


def run(coro: Coroutine[Any, Any, Identity]) -> Identity:
    """Drive ``verify``: with HS secrets it never suspends, so no event loop is needed."""
    try:
        coro.send(None)
    except StopIteration as done:
        result: Identity = done.value
        return result
    coro.close()
    raise AssertionError("the HS verifier suspended")


def outcome(token: str) -> Identity | TokenError:
    try:
        return run(VERIFIER.verify(token))
    except TokenError as exc:  # anything else escapes and fails the test
        return exc


def signature_is_valid(token: str) -> bool:
    """An independent check: canonical segments and an HMAC-SHA256 under the right secret."""
    signing_input, _, signature_b64 = token.rpartition(".")
    try:
        signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
    except ValueError:
        return False
    if b64url(signature) != signature_b64:
        return False
    expected = hmac.new(SECRET, signing_input.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return hmac.compare_digest(expected.digest(), signature)


# --------------------------------------------------------------------------- strategies

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=6,
)
times = st.one_of(
    st.integers(min_value=NOW - 10**6, max_value=NOW + 10**6),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([str(NOW + 60), True, False, None, [NOW + 60], {"$gt": 0}, 2**53, -1]),
)


def mostly(good: Any, other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` most of the time, so that a fair share of tokens get past every check."""
    return st.integers(0, 9).flatmap(lambda n: st.just(good) if n < 8 else other)


#: claim -> (probability-weighted) values; each is left out now and then
claim_values = {
    "sub": mostly("alice", st.text(max_size=300) | json_values),
    "email": mostly("alice@example.com", st.emails() | st.text(max_size=40) | json_values),
    "iss": mostly(ISSUER, st.text(max_size=40) | json_values),
    "aud": st.text(max_size=20) | st.lists(st.text(max_size=10), max_size=3) | json_values,
    "exp": mostly(NOW + 3600, times),
    "nbf": mostly(NOW - 60, times),
    "iat": mostly(NOW - 10, times),
}
REQUIRED = {"sub", "iss", "exp"}


@st.composite
def payloads(draw: st.DrawFn) -> dict[str, Any]:
    payload: dict[str, Any] = draw(st.dictionaries(st.text(max_size=10), json_values, max_size=3))
    for name, values in claim_values.items():
        # required claims are there 9 times in 10; the others half the time
        if draw(st.integers(0, 9)) < (9 if name in REQUIRED else 5):
            payload[name] = draw(values)
    return payload


def sometimes(draw: st.DrawFn, tenths: int) -> bool:
    return draw(st.integers(0, 9)) < tenths


@st.composite
def headers(draw: st.DrawFn) -> dict[str, Any]:
    header: dict[str, Any] = {}
    if sometimes(draw, 9):
        other = st.sampled_from(["HS512", "none", "None", "RS256", "", "hs256"]) | json_values
        header["alg"] = "HS256" if sometimes(draw, 7) else draw(other)
    if sometimes(draw, 5):
        typ = st.sampled_from(["JWT", "jwt", "at+jwt"]) | json_values
        header["typ"] = "JWT" if sometimes(draw, 7) else draw(typ)
    if sometimes(draw, 3):
        header["kid"] = (
            "login-1" if sometimes(draw, 5) else draw(st.text(max_size=20) | json_values)
        )
    if sometimes(draw, 1):
        extra = st.sampled_from(["jku", "jwk", "x5u", "x5c", "crit", "b64", "cty", "zip"])
        header[draw(extra | st.text(max_size=5))] = draw(json_values)
    return header


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8", "surrogatepass")


@st.composite
def structured_tokens(draw: st.DrawFn) -> str:
    header = draw(headers())
    payload = draw(payloads())
    key = SECRET if sometimes(draw, 7) else draw(st.sampled_from([WRONG_SECRET, None]))
    encode = b64std if sometimes(draw, 1) else b64url
    return forge(dumps(header), dumps(payload), hs(key) if key else None, encode=encode)


def valid_token() -> str:
    payload: dict[str, Any] = {"sub": "alice", "email": "alice@example.com", "iss": ISSUER}
    payload |= {"iat": NOW - 10, "exp": NOW + 3600}
    return forge({"alg": "HS256", "typ": "JWT"}, payload, hs(SECRET))


VALID = valid_token()


@st.composite
def mutated_tokens(draw: st.DrawFn) -> str:
    token = VALID
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "segments"]))
        index = draw(st.integers(0, max(0, len(token) - 1)))
        if kind == "truncate":  # cut one segment short (a truncated signature, most often)
            segments = token.split(".")
            which = draw(st.integers(0, len(segments) - 1).map(lambda i: -1 if i % 2 else i))
            segments[which] = segments[which][: draw(st.integers(0, len(segments[which])))]
            token = ".".join(segments)
        elif kind == "insert":
            char = draw(st.sampled_from(ALPHABET + ".=+/ \t") | st.characters())
            token = token[:index] + char + token[index:]
        elif kind == "delete" and token:
            token = token[:index] + token[index + 1 :]
        elif kind == "replace" and token:
            char = draw(st.sampled_from(ALPHABET + ".="))
            token = token[:index] + char + token[index + 1 :]
        else:
            segments = token.split(".")
            order = draw(st.lists(st.sampled_from(range(len(segments))), min_size=1, max_size=5))
            token = ".".join(segments[i] for i in order)
    return token


# --------------------------------------------------------------------------- properties


def test_the_base_token_is_valid() -> None:
    identity = outcome(VALID)
    assert isinstance(identity, Identity)
    assert identity.sub == "alice"


@fuzz(1000)
@given(st.text(max_size=400))
def test_arbitrary_text_is_never_an_identity(text: str) -> None:
    assert isinstance(outcome(text), TokenError)


@fuzz(1000)
@given(structured_tokens())
def test_an_identity_needs_a_valid_signature_and_sound_claims(token: str) -> None:
    result = outcome(token)
    assert isinstance(result, Identity) or 400 <= result.status < 500
    event("verdict", "identity" if isinstance(result, Identity) else result.reason)
    if isinstance(result, TokenError):
        return
    assert signature_is_valid(token)
    header_b64, payload_b64, _ = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    assert header["alg"] == "HS256"
    assert set(header) <= {"alg", "typ", "kid"}
    assert result.sub == payload["sub"]
    assert result.sub.strip() == result.sub
    assert payload["iss"] == ISSUER
    exp = payload["exp"]
    assert type(exp) in (int, float)
    assert math.isfinite(exp)
    assert exp > NOW - 30


@fuzz(1000)
@given(mutated_tokens())
def test_a_mutated_token_is_never_an_identity(token: str) -> None:
    result = outcome(token)
    if isinstance(result, Identity):
        assert token == VALID  # a no-op mutation (the same segments in the same order)
    else:
        assert not isinstance(result, SubjectMissing)  # never got past the signature
