"""Verify the login system's token and turn it into an :class:`Identity`.

A token goes through two layers, and each byte of it is decoded exactly once:

1. **The strict layer** (no key needed) refuses what a gateway must not accept even though
   PyJWT alone would (RFC 8725 §2.8, §3.2, §3.11): anything but three canonical, unpadded
   base64url segments; header or payload that is not a UTF-8 JSON object (BOM, UTF-16, duplicate
   keys, NaN/Infinity, deep nesting); header parameters other than ``alg``/``typ``/``kid``
   (``jku``, ``jwk``, ``x5u``, ``x5c``, ``crit``, ``b64``...); an ``alg`` outside the configured
   list (exact case; never ``none``); time claims that are strings, booleans, non-finite or beyond
   2**53 (PyJWT would run ``int()`` on them).
2. **Signature and claims**: the signature is checked with PyJWT's algorithm object for the
   header's ``alg``, which is pinned to the configured list, so the key family is fixed by the
   configuration and an HMAC secret never meets an RS token or the reverse (RFC 8725 §3.1).
   HS tries every configured secret (rotation); RS/PS/ES asks the :class:`KeySet` for the
   ``kid`` (or every key when the token has none). Then ``exp`` (required), ``nbf``, ``iat``
   with ``leeway`` against the injected clock, ``iss`` by exact comparison and ``aud`` with
   PyJWT's semantics, and finally ``sub``.

PyJWT's ``jwt.decode`` is not called: it would decode and parse the token a second time (about
five times the cost of this whole path) and it reads the wall clock itself, so the injected
``clock`` could not be honoured.

Errors carry a short ``reason`` for logs and metrics. Messages never contain the token, a
secret or a claim value.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import jwt
from jwt.algorithms import Algorithm
from jwt.exceptions import PyJWTError

from bridge.errors import SubjectMissing, TokenInvalid

if TYPE_CHECKING:
    from bridge.keysets import KeySet
    from bridge.settings import UpstreamSettings

__all__ = ["MAX_JSON_DEPTH", "Identity", "Verifier", "is_sane_text"]

#: deepest JSON nesting accepted in the header or the payload
MAX_JSON_DEPTH = 16
#: time claims must be below this (the largest integer a JSON double holds exactly)
_MAX_TIME = 2**53
_MAX_SUB_CHARS = 255
_MAX_EMAIL_CHARS = 254
_MAX_NAME_CHARS = 255
_TIME_CLAIMS = ("exp", "nbf", "iat")
_HEADER_PARAMS = frozenset({"alg", "typ", "kid"})

# Three non-empty segments of the base64url alphabet, nothing else: this also rules out
# padding, whitespace, the standard alphabet's "+/" and every non-ASCII character.
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_KID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# A segment of length 4n+2 (4n+3) ends in a character whose low 4 (2) bits are unused; they
# must be zero, or two different strings would decode to the same bytes.
_CANONICAL_LAST = {
    2: frozenset(c for i, c in enumerate(_B64URL) if i % 16 == 0),
    3: frozenset(c for i, c in enumerate(_B64URL) if i % 4 == 0),
}

# control characters (C0, DEL, C1), bidi marks/embeddings/overrides/isolates, line and paragraph
# separators, BOM, and surrogates (which only occur unpaired in a decoded str)
_UNSAFE_CHARS = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff\ufeff"
_UNSAFE = re.compile(f"[{_UNSAFE_CHARS}]")
_EMAIL = re.compile(rf"[^\s@{_UNSAFE_CHARS}]+@[^\s@{_UNSAFE_CHARS}]+")
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def is_sane_text(value: object, max_chars: int) -> bool:
    """True for a ``str`` of at most ``max_chars`` without control, bidi or surrogate chars."""
    return isinstance(value, str) and len(value) <= max_chars and not _UNSAFE.search(value)


def _sane_email(value: object) -> str | None:
    if isinstance(value, str) and len(value) <= _MAX_EMAIL_CHARS and _EMAIL.fullmatch(value):
        return value
    return None


@dataclass(frozen=True, slots=True)
class Identity:
    """The verified login user."""

    sub: str
    #: None when absent, empty, or not a sane email string
    email: str | None
    #: the verified, strictly parsed payload (read-only)
    claims: Mapping[str, Any]
    #: the login token's ``exp`` (epoch seconds)
    expires_at: int

    def display_name(self, claim_names: Sequence[str]) -> str | None:
        """The first named claim that is a non-empty sane string; ``"email"`` is ``self.email``."""
        for name in claim_names:
            value = self.email if name == "email" else self.claims.get(name)
            if isinstance(value, str):
                value = value.strip()
                if value and is_sane_text(value, _MAX_NAME_CHARS):
                    return value
        return None


class _DuplicateKey(ValueError):
    pass


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey
    return obj


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e309 parses as inf
        raise ValueError
    return value


def _no_constant(_name: str) -> Any:  # NaN, Infinity, -Infinity
    raise ValueError


_JSON = json.JSONDecoder(
    object_pairs_hook=_unique_object, parse_float=_finite_float, parse_constant=_no_constant
)


def _too_deep(text: str) -> bool:
    # Fast path: the number of brackets (strings included) bounds the depth.
    if text.count("{") + text.count("[") <= MAX_JSON_DEPTH:
        return False
    depth = 0
    for char in _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)):
        depth += 1 if char in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            return True
    return False


def _b64decode(segment: str) -> bytes:
    remainder = len(segment) % 4
    if remainder == 1 or (remainder and segment[-1] not in _CANONICAL_LAST[remainder]):
        raise TokenInvalid(reason="bad_base64")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):  # pragma: no cover - the alphabet is checked before
        raise TokenInvalid(reason="bad_base64") from None


def _json_object(raw: bytes) -> tuple[dict[str, Any], str]:
    """The strictly parsed JSON object and its text."""
    try:
        text = raw.decode("utf-8")  # strict: no UTF-16/32 detection as json.loads(bytes) does
    except UnicodeDecodeError:
        raise TokenInvalid(reason="bad_utf8") from None
    if text.startswith("\ufeff"):
        raise TokenInvalid(reason="bom")
    if _too_deep(text):
        raise TokenInvalid(reason="too_deep")
    try:
        obj = _JSON.decode(text)
    except _DuplicateKey:
        raise TokenInvalid(reason="duplicate_key") from None
    except (ValueError, RecursionError):
        raise TokenInvalid(reason="bad_json") from None
    if type(obj) is not dict:
        raise TokenInvalid(reason="not_object")
    return obj, text


def _has_lone_surrogate(obj: dict[str, Any]) -> bool:
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class Verifier:
    """Verifies login tokens against the configured algorithms, secrets or key set."""

    def __init__(
        self,
        settings: UpstreamSettings,
        *,
        keyset: KeySet | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._family = settings.family
        self._algorithms: dict[str, Algorithm] = {
            alg: jwt.get_algorithm_by_name(alg) for alg in settings.algorithms
        }
        self._secrets: tuple[bytes, ...] = tuple(s.secret.reveal() for s in settings.secrets)
        if self._family == "HS":
            if keyset is not None:
                raise ValueError("HS algorithms use secrets, not a key set")
            if not self._secrets:
                raise ValueError("HS algorithms need at least one secret")
        else:
            if keyset is None:
                raise ValueError("RS/PS/ES algorithms need a key set")
            if keyset.family != self._family:
                raise ValueError(f"the key set holds {keyset.family} keys, not {self._family}")
        self._keyset = keyset
        self._clock = clock
        self._issuer = settings.issuer
        audience = settings.audience
        self._audience: frozenset[str] | None = (
            None
            if audience is None
            else frozenset([audience] if isinstance(audience, str) else audience)
        )
        self._leeway = settings.leeway
        self._max_token = settings.max_token_bytes
        # token string -> (identity, key-set generation); insertion-ordered, oldest evicted
        self._cache: dict[str, tuple[Identity, int]] = {}
        self._cache_size = settings.verify_cache_size

    async def verify(self, token: str) -> Identity:
        """The identity in ``token``; raise ``TokenInvalid``, ``SubjectMissing`` or
        ``KeysUnavailable`` (RS/PS/ES keys never fetched).

        A token that verified before is answered from a bounded cache: the same string under
        the same configuration (the cache belongs to this verifier) and the same keys gives the
        same identity, except for expiry, which is checked again on every hit exactly as a full
        verification would. Failures are never cached.
        """
        identity = self.known(token)
        if identity is not None:
            return identity
        keyset = self._keyset
        generation = 0 if keyset is None else keyset.generation
        identity = await self._verify(token)
        if self._cache_size:
            if len(self._cache) >= self._cache_size:
                del self._cache[next(iter(self._cache))]
            # the generation seen before the check: a refresh during it makes this entry stale
            self._cache[token] = (identity, generation)
        return identity

    def known(self, token: str) -> Identity | None:
        """The identity of a token that verified before and would verify now, from the cache
        (no coroutine: the token path's common case); None means: call :meth:`verify`."""
        cached = self._cache.get(token)
        if cached is None:
            return None
        identity, cached_generation = cached
        keyset = self._keyset
        if (
            identity.expires_at > self._clock() - self._leeway
            and cached_generation == (0 if keyset is None else keyset.generation)
            # keys due for a refresh: take the full path, which refreshes them, so that a
            # revoked key stops working as soon as it would without this cache
            and (keyset is None or keyset.fresh)
        ):
            return identity
        del self._cache[token]
        return None

    @property
    def cached(self) -> int:
        """How many verified tokens are remembered now."""
        return len(self._cache)

    async def _verify(self, token: str) -> Identity:
        if not isinstance(token, str) or not token:
            raise TokenInvalid(reason="malformed")
        if len(token) > self._max_token:
            raise TokenInvalid(reason="too_large")
        if not _COMPACT.fullmatch(token):
            raise TokenInvalid(reason="malformed")
        signing_input, _, signature_b64 = token.rpartition(".")
        header_b64, _, payload_b64 = signing_input.partition(".")

        header, _ = _json_object(_b64decode(header_b64))
        alg, kid = self._check_header(header)
        payload, payload_text = _json_object(_b64decode(payload_b64))
        _check_time_types(payload)
        signature = _b64decode(signature_b64)

        await self._check_signature(alg, kid, signing_input.encode("ascii"), signature)
        self._check_claims(payload)

        # like Xsolla's reference (``sub, _ := claims["sub"].(string)``): no usable sub is a 422,
        # but a sub that is there and unsafe is an invalid token
        sub = payload.get("sub")
        if not isinstance(sub, str) or not sub.strip():
            sub = None
        elif sub != sub.strip() or not is_sane_text(sub, _MAX_SUB_CHARS):
            raise TokenInvalid(reason="bad_sub")
        # unpaired surrogates (only reachable through "\udXXX" escapes) anywhere in the payload
        if ("\\ud" in payload_text or "\\uD" in payload_text) and _has_lone_surrogate(payload):
            raise TokenInvalid(reason="bad_unicode")
        if sub is None:
            raise SubjectMissing(reason="no_sub")
        return Identity(
            sub=sub,
            email=_sane_email(payload.get("email")),
            claims=MappingProxyType(payload),
            expires_at=int(payload["exp"]),
        )

    def _check_header(self, header: dict[str, Any]) -> tuple[str, str | None]:
        if not header.keys() <= _HEADER_PARAMS:
            raise TokenInvalid(reason="header_param")
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise TokenInvalid(reason="alg_missing")
        if alg not in self._algorithms:
            raise TokenInvalid(reason="alg_none" if alg.lower() == "none" else "alg_not_allowed")
        if "typ" in header:
            typ = header["typ"]
            if not isinstance(typ, str) or typ.upper() != "JWT":
                raise TokenInvalid(reason="bad_typ")
        kid = header.get("kid")
        if "kid" in header and (not isinstance(kid, str) or not _KID.fullmatch(kid)):
            raise TokenInvalid(reason="bad_kid")
        return alg, kid

    async def _check_signature(
        self, alg: str, kid: str | None, signing_input: bytes, signature: bytes
    ) -> None:
        algorithm = self._algorithms[alg]
        if self._keyset is None:
            for secret in self._secrets:
                if algorithm.verify(signing_input, secret, signature):
                    return
            raise TokenInvalid(reason="bad_signature")
        keys = await self._keyset.keys_for(kid)
        if not keys:
            raise TokenInvalid(reason="unknown_kid" if kid is not None else "no_keys")
        for key in keys:
            try:
                prepared = algorithm.prepare_key(key)  # rejects a key of the wrong type or curve
                if algorithm.check_key_length(prepared) is not None:
                    continue
                if algorithm.verify(signing_input, prepared, signature):
                    return
            except (PyJWTError, ValueError, TypeError):
                continue
        raise TokenInvalid(reason="bad_signature")

    def _check_claims(self, payload: dict[str, Any]) -> None:
        now = self._clock()
        leeway = self._leeway
        # int() like PyJWT: a fractional exp is truncated, never rounded up
        if int(payload["exp"]) <= now - leeway:
            raise TokenInvalid(reason="expired")
        if "nbf" in payload and int(payload["nbf"]) > now + leeway:
            raise TokenInvalid(reason="not_yet_valid")
        if "iat" in payload and int(payload["iat"]) > now + leeway:
            raise TokenInvalid(reason="iat_in_future")

        if "iss" in payload or self._issuer is not None:
            iss = payload.get("iss")
            # exact comparison: never ``in`` on a string (CVE-2024-53861)
            if not isinstance(iss, str) or (self._issuer is not None and iss != self._issuer):
                raise TokenInvalid(reason="bad_iss")

        if "aud" in payload:
            aud = payload["aud"]
            if isinstance(aud, str):
                token_audiences: Sequence[str] = (aud,)
            elif type(aud) is list and all(isinstance(a, str) for a in aud):
                token_audiences = aud
            else:
                raise TokenInvalid(reason="bad_aud")
        else:
            aud, token_audiences = None, ()
        if self._audience is None:
            if aud:  # a token meant for a named audience is not for us
                raise TokenInvalid(reason="bad_aud")
        elif not any(a in self._audience for a in token_audiences):
            raise TokenInvalid(reason="bad_aud")


def _check_time_types(payload: dict[str, Any]) -> None:
    for name in _TIME_CLAIMS:
        if name in payload:
            value = payload[name]
            # type() rather than isinstance(): bool is an int subclass; NaN fails the range test
            if (type(value) is not int and type(value) is not float) or not (
                0 <= value < _MAX_TIME
            ):
                raise TokenInvalid(reason="bad_time_claim")
    if "exp" not in payload:
        raise TokenInvalid(reason="missing_exp")
