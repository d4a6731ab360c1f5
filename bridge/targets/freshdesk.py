"""Freshdesk help widget authentication.

HS256 with the widget's shared secret; claims ``name``, ``email`` and ``exp``, at most two
hours ahead. An email is required.
"""

from __future__ import annotations

from typing import Any, Literal

from bridge.login.identity import Identity
from bridge.targets.base import SharedSecretTargetSettings, SplitHmacJwtSigner


class FreshdeskSigner(SplitHmacJwtSigner):
    type = "freshdesk"
    default_ttl = 3600
    max_ttl = 7200  # Freshdesk: exp at most two hours ahead
    needs_email = True

    def identity_claims(self, identity: Identity) -> dict[str, Any]:
        return self.name_and_email(identity)


class FreshdeskTarget(SharedSecretTargetSettings):
    type: Literal["freshdesk"]
    builds = FreshdeskSigner
