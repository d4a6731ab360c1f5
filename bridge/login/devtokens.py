"""Development login tokens: what the login system would issue, signed with the HS secret.

Used by the demo page's "sign in as a development user" (``bridge.http.pages``). Whoever can call
this can sign in as anyone, which is why the demo that exposes it is refused outside a
loopback development setup (see ``DemoSettings`` in ``bridge.settings.server``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from bridge.settings.login import PROJECT_CLAIM, LoginSystemSettings

DEFAULT_ISSUER = "https://login.xsolla.com"


@dataclass(frozen=True, slots=True)
class DevLogin:
    token: str
    expires_at: int


def mint_login_token(
    system: LoginSystemSettings,
    *,
    sub: str,
    email: str | None = None,
    name: str | None = None,
    groups: Sequence[str] = (),
    ttl: int = 3600,
    now: float | None = None,
) -> DevLogin:
    """A login token like Xsolla Login's for ``sub`` (of the login system's project, when it has
    one); needs an HS login system."""
    if system.family != "HS":
        raise ValueError("development login tokens need an HS upstream (secrets)")
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "sub": sub,
        "iat": issued,
        "exp": issued + ttl,
        "iss": system.issuer or DEFAULT_ISSUER,
        "jti": str(uuid.uuid4()),
        "groups": [{"id": i, "name": g, "is_default": False} for i, g in enumerate(groups, 1)],
    }
    if email:
        claims["email"] = email
    if name:
        claims["name"] = name
    if system.audience is not None:
        claims["aud"] = system.audience
    if system.project_id is not None:
        claims[PROJECT_CLAIM] = system.project_id
    secret = system.secrets[0].secret.reveal()
    return DevLogin(jwt.encode(claims, secret, algorithm=system.algorithms[0]), issued + ttl)
