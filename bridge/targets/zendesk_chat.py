"""Zendesk Chat visitor authentication (Chat Web SDK, Web Widget Classic).

HS256 with the Chat app's shared secret; claims ``name``, ``email``, ``external_id``, ``iat``
and ``exp``; ``exp`` at most 7 minutes after ``iat``. An email is required.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from bridge.login.identity import Identity
from bridge.settings.base import HmacSecret
from bridge.targets.base import Clock, Signer, SplitHmacJwtSigner, TargetSettings


class ZendeskChatSigner(SplitHmacJwtSigner):
    type = "zendesk_chat"
    default_ttl = 300
    max_ttl = 420  # Zendesk: exp at most 7 minutes after iat
    needs_email = True

    def identity_claims(self, identity: Identity) -> dict[str, Any]:
        assert identity.email is not None
        return {
            "name": identity.display_name(self.names_for(identity)) or identity.email,
            "email": identity.email,
            "external_id": identity.sub,
        }

    def time_claims(self, now: int) -> dict[str, Any]:
        return {"iat": now, "exp": now + self.ttl}


class ZendeskChatTarget(TargetSettings):
    type: Literal["zendesk_chat"]
    secret: HmacSecret

    def build(self, name: str, *, name_claims: Sequence[str], clock: Clock) -> Signer:
        return ZendeskChatSigner(
            name, secret=self.secret.secret, ttl=self.ttl, name_claims=name_claims, clock=clock
        )
