"""A fake OpenID Connect identity provider: a real aiohttp server on a free loopback port.

It serves ``/.well-known/openid-configuration`` (whose ``issuer`` is the server's own URL and
whose ``jwks_uri`` is ``/jwks``) and ``/jwks``, counts the requests to each, signs tokens with
its current RSA key, and rotates keys like a real provider: a new key is published, becomes
the signing key, and the old one is kept or dropped.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from pytest_aiohttp import AiohttpServer

from tests.support.tokens import forge, rs, rsa_jwk, rsa_key

DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass
class FakeIdentityProvider:
    """Change the fields between requests to script the provider."""

    base_url: str = ""
    #: (kid, key) pairs published at /jwks; the last one signs
    keys: list[tuple[str, rsa.RSAPrivateKey]] = field(default_factory=list)
    discovery_requests: int = 0
    jwks_requests: int = 0
    #: overrides of the discovery document's fields (``issuer``, ``jwks_uri``)
    document_overrides: dict[str, Any] = field(default_factory=dict)
    discovery_status: int = 200
    jwks_status: int = 200
    _rotations: int = 0

    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def discovery_url(self) -> str:
        return self.base_url + DISCOVERY_PATH

    @property
    def signing_kid(self) -> str:
        return self.keys[-1][0]

    def rotate(self, *, keep_old: bool = True) -> str:
        """Publish a new key and sign with it from now on; its kid."""
        self._rotations += 1
        kid = f"idp-key-{self._rotations}"
        new = (kid, rsa_key(10 + self._rotations))
        self.keys = [*self.keys, new] if keep_old else [new]
        return kid

    def token(self, *, ttl: int = 3600, kid: str | None = None, **claims: Any) -> str:
        """An RS256 token of this provider (``iss`` its issuer), signed with its key ``kid``
        (the current signing key by default); ``claim=None`` removes a claim."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "idp|user-1",
            "email": "idp.user@example.com",
            "name": "Idp User",
            "iat": now,
            "exp": now + ttl,
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        kid = kid or self.signing_kid
        key = dict(self.keys)[kid]
        return forge({"alg": "RS256", "typ": "JWT", "kid": kid}, payload, rs(key))

    async def discovery(self, request: web.Request) -> web.Response:
        self.discovery_requests += 1
        document = {
            "issuer": self.issuer,
            "jwks_uri": self.base_url + "/jwks",
            "authorization_endpoint": self.base_url + "/authorize",
            "id_token_signing_alg_values_supported": ["RS256"],
            **self.document_overrides,
        }
        return web.json_response(document, status=self.discovery_status)

    async def jwks(self, request: web.Request) -> web.Response:
        self.jwks_requests += 1
        body = {"keys": [rsa_jwk(key, kid) for kid, key in self.keys]}
        return web.Response(
            body=json.dumps(body), status=self.jwks_status, content_type="application/json"
        )


async def start_fake_idp(aiohttp_server: AiohttpServer) -> FakeIdentityProvider:
    """A provider with one key, listening on 127.0.0.1."""
    idp = FakeIdentityProvider()
    idp.rotate()
    app = web.Application()
    app.router.add_get(DISCOVERY_PATH, idp.discovery)
    app.router.add_get("/jwks", idp.jwks)
    server = await aiohttp_server(app, host="127.0.0.1")
    idp.base_url = str(server.make_url("")).rstrip("/")
    return idp
