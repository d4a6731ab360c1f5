"""Zipchat customer identification: RS256 with the private key Zipchat issued.

Claims ``email``, ``first_name``, ``last_name``, ``additional_attributes`` (chosen login
claims), ``iat`` and ``exp`` (at most an hour: Zipchat's own identify cache lasts one hour);
header ``kid`` (the key's RFC 7638 thumbprint unless configured). The public key is published
at ``/.well-known/jwks.json``. An email is required.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from jwt.algorithms import RSAAlgorithm
from pydantic import Field

from bridge.login.identity import Identity
from bridge.settings.base import ClaimName, RsaPrivateKeySource, load_rsa_private_key
from bridge.targets.base import (
    Clock,
    Signer,
    TargetSettings,
    b64url,
    header_segment,
    payload_segment,
)


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint of an RSA JWK, base64url without padding."""
    canonical = json.dumps(
        {"e": jwk["e"], "kty": jwk["kty"], "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    return b64url(hashlib.sha256(canonical.encode()).digest()).decode()


class ZipchatSigner(Signer):
    type = "zipchat"
    default_ttl = 3600
    max_ttl = 3600  # Zipchat recommends one hour; its own identify cache lasts one hour
    needs_email = True

    def __init__(
        self,
        name: str,
        *,
        private_key_pem: bytes,
        key_id: str | None,
        additional_attributes: Sequence[str],
        first_name_claim: str,
        last_name_claim: str,
        ttl: int | None,
        name_claims: Sequence[str],
        clock: Clock = time.time,
    ) -> None:
        super().__init__(name, ttl=ttl, name_claims=name_claims, clock=clock)
        self.__key = load_rsa_private_key(private_key_pem)
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.__key.public_key(), as_dict=True)
        self.key_id = key_id or jwk_thumbprint(jwk)
        self._header = header_segment({"alg": "RS256", "typ": "JWT", "kid": self.key_id})
        self._jwk = {**jwk, "kid": self.key_id, "alg": "RS256", "use": "sig"}
        self.additional_attributes = tuple(additional_attributes)
        self.first_name_claim = first_name_claim
        self.last_name_claim = last_name_claim

    def _names(self, identity: Identity) -> tuple[str | None, str | None]:
        first = identity.display_name([self.first_name_claim])
        last = identity.display_name([self.last_name_claim])
        if first is None and last is None:
            display = identity.display_name([c for c in self.names_for(identity) if c != "email"])
            if display:
                first, _, rest = display.partition(" ")
                last = rest.strip() or None
        return first, last

    def claims(self, identity: Identity, now: int) -> dict[str, Any]:
        assert identity.email is not None
        claims: dict[str, Any] = {"email": identity.email}
        first, last = self._names(identity)
        if first:
            claims["first_name"] = first
        if last:
            claims["last_name"] = last
        extra = {
            name: identity.claims[name]
            for name in self.additional_attributes
            if name in identity.claims and identity.claims[name] is not None
        }
        if extra:
            claims["additional_attributes"] = extra
        claims["iat"] = now
        claims["exp"] = now + self.ttl
        return claims

    def _encode(self, claims: dict[str, Any]) -> str:
        signing_input = self._header + b"." + payload_segment(claims)
        signature = self.__key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return (signing_input + b"." + b64url(signature)).decode("ascii")

    def public_jwk(self) -> dict[str, Any]:
        return dict(self._jwk)


class ZipchatTarget(TargetSettings):
    type: Literal["zipchat"]
    builds = ZipchatSigner
    private_key: RsaPrivateKeySource
    #: ``kid`` in the header and in /.well-known/jwks.json; default: the key's thumbprint
    key_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,128}$")
    #: login claims copied into ``additional_attributes``
    additional_attributes: list[ClaimName] = Field(default_factory=list)
    first_name_claim: ClaimName = "given_name"
    last_name_claim: ClaimName = "family_name"

    def build(self, name: str, *, name_claims: Sequence[str], clock: Clock) -> Signer:
        return ZipchatSigner(
            name,
            private_key_pem=self.private_key.secret.reveal(),
            key_id=self.key_id,
            additional_attributes=self.additional_attributes,
            first_name_claim=self.first_name_claim,
            last_name_claim=self.last_name_claim,
            ttl=self.ttl,
            name_claims=name_claims,
            clock=clock,
        )
