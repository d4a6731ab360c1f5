"""Intercom Messenger security: an HS256 JWT signed with the Messenger API secret.

Claims ``user_id`` (the login ``sub``; Intercom refuses a token without it), ``email`` when the
login token has one, the chosen login claims as user attributes, and ``exp`` (an hour by
default, at most a day). The site boots the Messenger with ``intercom_user_jwt``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, field_validator

from bridge.login.identity import Identity
from bridge.settings.base import ClaimName, HmacSecret
from bridge.targets.base import Clock, Signer, SplitHmacJwtSigner, TargetSettings

#: the claims the signer sets itself, which a user attribute may not replace
RESERVED = frozenset({"user_id", "email", "exp", "iat", "nbf", "iss", "aud", "sub", "jti"})


class IntercomSigner(SplitHmacJwtSigner):
    type = "intercom"
    default_ttl = 3600
    max_ttl = 86400  # a Messenger session; Intercom advises matching the site's own
    needs_email = False

    def __init__(
        self,
        name: str,
        *,
        user_attributes: Sequence[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        self.user_attributes = tuple(user_attributes)

    def identity_claims(self, identity: Identity) -> dict[str, Any]:
        claims: dict[str, Any] = {"user_id": identity.sub}
        if identity.email is not None:
            claims["email"] = identity.email
        for attribute in self.user_attributes:
            value = identity.claims.get(attribute)
            if value is not None:
                claims[attribute] = value
        return claims


class IntercomTarget(TargetSettings):
    type: Literal["intercom"]
    builds = IntercomSigner
    #: the Messenger API secret (Settings > Workspace > Security > Messenger)
    secret: HmacSecret
    #: login claims signed in as Intercom user attributes (by the same names)
    user_attributes: list[ClaimName] = Field(default_factory=list)

    @field_validator("user_attributes")
    @classmethod
    def _not_reserved(cls, names: list[str]) -> list[str]:
        taken = sorted(set(names) & RESERVED)
        if taken:
            raise ValueError(f"set by the gateway itself, not a user attribute: {', '.join(taken)}")
        return names

    def build(self, name: str, *, name_claims: Sequence[str], clock: Clock) -> Signer:
        return IntercomSigner(
            name,
            secret=self.secret.secret,
            user_attributes=self.user_attributes,
            ttl=self.ttl,
            name_claims=name_claims,
            clock=clock,
        )
