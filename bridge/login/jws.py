"""The strict layer of login-token verification: what needs no key.

Refuses what a gateway must not accept even though PyJWT alone would (RFC 8725 §2.8, §3.2,
§3.11): anything but three canonical, unpadded base64url segments; a header or payload that is
not a UTF-8 JSON object (BOM, UTF-16, duplicate keys, NaN/Infinity, deep nesting); header
parameters other than ``alg``/``typ``/``kid`` (``jku``, ``jwk``, ``x5u``, ``x5c``, ``crit``,
``b64``...); time claims that are strings, booleans, non-finite or beyond 2**53 (PyJWT would run
``int()`` on them). Each byte of a token is decoded exactly once.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from bridge.errors import TokenInvalid

#: deepest JSON nesting accepted in the header or the payload
MAX_JSON_DEPTH = 16
#: time claims must be below this (the largest integer a JSON double holds exactly)
_MAX_TIME = 2**53
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

_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


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


def has_lone_surrogate(obj: dict[str, Any]) -> bool:
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


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


@dataclass(frozen=True, slots=True)
class CompactToken:
    """A login token past the strict layer: its parts, decoded once, signature not checked."""

    alg: str
    kid: str | None
    signing_input: bytes
    signature: bytes
    payload: dict[str, Any]
    #: the payload's JSON text, for checks that look at escapes
    payload_text: str


def _check_header(header: dict[str, Any], algorithms: Collection[str]) -> tuple[str, str | None]:
    if not header.keys() <= _HEADER_PARAMS:
        raise TokenInvalid(reason="header_param")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise TokenInvalid(reason="alg_missing")
    if alg not in algorithms:
        raise TokenInvalid(reason="alg_none" if alg.lower() == "none" else "alg_not_allowed")
    if "typ" in header:
        typ = header["typ"]
        if not isinstance(typ, str) or typ.upper() != "JWT":
            raise TokenInvalid(reason="bad_typ")
    kid = header.get("kid")
    if "kid" in header and (not isinstance(kid, str) or not _KID.fullmatch(kid)):
        raise TokenInvalid(reason="bad_kid")
    return alg, kid


def parse_compact(token: str, *, algorithms: Collection[str], max_bytes: int) -> CompactToken:
    """The strict layer: :class:`TokenInvalid` (with its ``reason``) or the token's parts.

    ``algorithms`` are the allowed ``alg`` values (exact case; ``none`` is never one).
    """
    if not isinstance(token, str) or not token:
        raise TokenInvalid(reason="malformed")
    if len(token) > max_bytes:
        raise TokenInvalid(reason="too_large")
    if not _COMPACT.fullmatch(token):
        raise TokenInvalid(reason="malformed")
    signing_input, _, signature_b64 = token.rpartition(".")
    header_b64, _, payload_b64 = signing_input.partition(".")

    header, _ = _json_object(_b64decode(header_b64))
    alg, kid = _check_header(header, algorithms)
    payload, payload_text = _json_object(_b64decode(payload_b64))
    _check_time_types(payload)
    signature = _b64decode(signature_b64)
    return CompactToken(alg, kid, signing_input.encode("ascii"), signature, payload, payload_text)
