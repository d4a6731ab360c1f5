"""Zendesk Chat visitor authentication (Chat Web SDK, Web Widget Classic).

HS256 with the Chat app's shared secret; claims ``name``, ``email``, ``external_id``, ``iat``
and ``exp``; ``exp`` at most 7 minutes after ``iat``. An email is required.
"""

from __future__ import annotations

from typing import Any, Literal

from bridge.login.identity import Identity
from bridge.targets.base import SharedSecretTargetSettings, SplitHmacJwtSigner


class ZendeskChatSigner(SplitHmacJwtSigner):
    type = "zendesk_chat"
    default_ttl = 300
    max_ttl = 420  # Zendesk: exp at most 7 minutes after iat
    needs_email = True

    def identity_claims(self, identity: Identity) -> dict[str, Any]:
        return {**self.name_and_email(identity), "external_id": identity.sub}

    def time_claims(self, now: int) -> dict[str, Any]:
        return {"iat": now, "exp": now + self.ttl}


class ZendeskChatTarget(SharedSecretTargetSettings):
    type: Literal["zendesk_chat"]
    builds = ZendeskChatSigner
