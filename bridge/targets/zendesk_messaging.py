"""Zendesk Messaging end-user authentication (Web Widget and mobile SDKs).

HS256 with the messaging key's secret and its id as the header's ``kid``; claims
``scope: "user"``, ``external_id``, ``name`` and ``email`` when known, ``exp``. With
``email_verified: true`` the token claims ``email_verified`` too, for an identity whose email
is known to be verified (its token says so, or its login system sets ``emails_verified``).
No email is needed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from bridge.login.identity import Identity
from bridge.settings.base import HmacSecret, Secret
from bridge.targets.base import Clock, Signer, SplitHmacJwtSigner, TargetSettings


class ZendeskMessagingSigner(SplitHmacJwtSigner):
    type = "zendesk_messaging"
    default_ttl = 600
    max_ttl = 86400
    needs_email = False

    def __init__(
        self,
        name: str,
        *,
        secret: Secret,
        key_id: str,
        email_verified: bool,
        ttl: int | None,
        name_claims: Sequence[str],
        clock: Clock = time.time,
    ) -> None:
        super().__init__(
            name,
            secret=secret,
            ttl=ttl,
            name_claims=name_claims,
            clock=clock,
            headers={"kid": key_id},
        )
        self.email_verified = email_verified

    def identity_claims(self, identity: Identity) -> dict[str, Any]:
        claims: dict[str, Any] = {"scope": "user", "external_id": identity.sub}
        display = identity.display_name(self.names_for(identity))
        if display:
            claims["name"] = display
        if identity.email:
            claims["email"] = identity.email
            if self.email_verified and identity.email_verified:
                claims["email_verified"] = True
        return claims


class ZendeskMessagingTarget(TargetSettings):
    type: Literal["zendesk_messaging"]
    builds = ZendeskMessagingSigner
    key_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,128}$")
    secret: HmacSecret
    #: claim ``email_verified: true`` for identities whose email is known to be verified
    email_verified: bool = False

    def build(self, name: str, *, name_claims: Sequence[str], clock: Clock) -> Signer:
        return ZendeskMessagingSigner(
            name,
            secret=self.secret.secret,
            key_id=self.key_id,
            email_verified=self.email_verified,
            ttl=self.ttl,
            name_claims=name_claims,
            clock=clock,
        )
