"""Freshdesk help widget authentication.

HS256 with the widget's shared secret; claims ``name``, ``email`` and ``exp``, at most two
hours ahead. An email is required.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from bridge.login.identity import Identity
from bridge.settings.base import HmacSecret
from bridge.targets.base import Clock, Signer, SplitHmacJwtSigner, TargetSettings


class FreshdeskSigner(SplitHmacJwtSigner):
    type = "freshdesk"
    default_ttl = 3600
    max_ttl = 7200  # Freshdesk: exp at most two hours ahead
    needs_email = True

    def identity_claims(self, identity: Identity) -> dict[str, Any]:
        assert identity.email is not None
        return {
            "name": identity.display_name(self.names_for(identity)) or identity.email,
            "email": identity.email,
        }


class FreshdeskTarget(TargetSettings):
    type: Literal["freshdesk"]
    secret: HmacSecret

    def build(self, name: str, *, name_claims: Sequence[str], clock: Clock) -> Signer:
        return FreshdeskSigner(
            name, secret=self.secret.secret, ttl=self.ttl, name_claims=name_claims, clock=clock
        )
