"""Decode and verify JWTs with nothing but base64, json, hmac and cryptography.

Tests check what the gateway mints with this, so a bug shared by the signer and PyJWT
cannot hide itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64url_decode(segment: str) -> bytes:
    assert "=" not in segment, "JWT segments carry no padding"
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """(header, payload, signing input, signature) without checking the signature."""
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(b64url_decode(header_b64))
    payload = json.loads(b64url_decode(payload_b64))
    assert isinstance(header, dict)
    assert isinstance(payload, dict)
    return header, payload, f"{header_b64}.{payload_b64}".encode(), b64url_decode(signature_b64)


def verify_hs256(token: str, secret: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, signing_input, signature = parts(token)
    expected = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    assert hmac.compare_digest(signature, expected), "HS256 signature does not verify"
    return header, payload


def verify_rs256(token: str, key: rsa.RSAPublicKey) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, signing_input, signature = parts(token)
    key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    return header, payload


def rsa_public_key_from_jwk(jwk: dict[str, Any]) -> rsa.RSAPublicKey:
    n = int.from_bytes(b64url_decode(jwk["n"]), "big")
    e = int.from_bytes(b64url_decode(jwk["e"]), "big")
    return rsa.RSAPublicNumbers(e, n).public_key()
