"""HMAC identity verification: Crisp, Help Scout Beacon, Front Chat and Intercom's legacy
``user_hash``.

The credential is the lowercase hex HMAC-SHA256 of one identifier (the email, or the login
``sub``), keyed by the vendor's verification secret, answered with the exact identifier that
was signed so the page hands the widget the same value. These signatures never expire: a
leaked one stays valid for that identifier until the secret is rotated at the vendor, so the
answer carries ``Cache-Control: no-store`` (the edge middleware's default, which no handler
of this path overrides) and ``expires_at`` is null.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, model_validator

from bridge.errors import EmailMissing
from bridge.login.identity import Identity
from bridge.settings.base import SecretSource
from bridge.targets.base import Clock, MintedToken, Signer, TargetSettings

Vendor = Literal["crisp", "helpscout", "front", "intercom_legacy"]
Identifier = Literal["email", "sub"]

#: the shortest verification secret accepted; every vendor issues longer ones
MIN_SECRET_BYTES = 16


class HmacIdentitySigner(Signer):
    type = "hmac_identity"
    repr_fields = ("vendor",)
    default_ttl = 0
    max_ttl = 0
    needs_email = False  # decided by ``identifier``, checked in :meth:`sign`
    expires = False
    issues_jwt = False

    def __init__(
        self,
        name: str,
        *,
        vendor: Vendor,
        identifier: Identifier,
        secret: bytes,
        name_claims: Sequence[str],
        clock: Clock = time.time,
    ) -> None:
        super().__init__(name, ttl=None, name_claims=name_claims, clock=clock)
        self.vendor = vendor
        self.identifier = identifier
        self._keyed = hmac.new(secret, digestmod=hashlib.sha256)

    def sign(self, identity: Identity) -> MintedToken:
        if self.identifier == "email":
            if identity.email is None:
                raise EmailMissing()
            value = identity.email
        else:
            value = identity.sub
        mac = self._keyed.copy()
        mac.update(value.encode())
        return MintedToken(mac.hexdigest(), None, {"identifier": value})

    def claims(self, identity: Identity, now: int) -> dict[str, Any]:
        raise TypeError("an HMAC identity signature has no claims")

    def _encode(self, claims: dict[str, Any]) -> str:
        raise TypeError("an HMAC identity signature has no claims")

    def summary(self) -> str:
        return (
            f"{self.type} ({self.vendor}), signs the {self.identifier}; never expires: a leaked "
            f"signature is valid until the secret is rotated at {self.vendor}"
        )


class HmacIdentityTarget(TargetSettings):
    type: Literal["hmac_identity"]
    builds = HmacIdentitySigner
    vendor: Vendor
    #: the vendor's identity verification secret
    secret: SecretSource
    #: what is signed; default ``sub`` for ``intercom_legacy``, ``email`` for the others
    identifier: Identifier | None = None
    #: not used: these signatures never expire
    ttl: None = Field(default=None)

    @model_validator(mode="after")
    def _secret_length(self) -> HmacIdentityTarget:
        secret = self.secret.secret
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(
                f"the {self.vendor} verification secret must be at least {MIN_SECRET_BYTES} "
                f"bytes (this one, from {secret.origin}, has {len(secret)})"
            )
        return self

    @property
    def signed_identifier(self) -> Identifier:
        if self.identifier is not None:
            return self.identifier
        return "sub" if self.vendor == "intercom_legacy" else "email"

    def build(self, name: str, *, name_claims: Sequence[str], clock: Clock) -> Signer:
        return HmacIdentitySigner(
            name,
            vendor=self.vendor,
            identifier=self.signed_identifier,
            secret=self.secret.secret.reveal(),
            name_claims=name_claims,
            clock=clock,
        )
