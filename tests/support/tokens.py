"""Hand-made JWTs and keys for the tests, independent of the code under test.

Tokens are assembled segment by segment from raw bytes, so a test can forge any header, payload
or signature: invalid JSON, duplicate keys, padding, the wrong alphabet, a signature made with
the wrong key. Signatures are computed here with ``hmac``/``hashlib`` and ``cryptography``,
never with ``bridge`` or PyJWT.

Also here: key documents as the key server would serve them (standard JWKS and Xsolla's hex
array) and a scriptable fake key server running on a real loopback port.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from pytest_aiohttp import AiohttpServer

Part = Mapping[str, Any] | bytes | str
"""A header or payload: a mapping (compact JSON), raw JSON text (str) or raw bytes."""

Signer = Callable[[bytes], bytes]

SECRET = b"s" * 40 + b"-login-project-secret"
OTHER_SECRET = b"o" * 40 + b"-previous-project-secret"
WRONG_SECRET = b"w" * 40 + b"-attacker-guessed-secret"

_HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}
_CRYPTO_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64std(data: bytes) -> str:
    """Unpadded *standard* base64 (``+/``): not allowed in a JWT."""
    return base64.b64encode(data).rstrip(b"=").decode("ascii")


def raw(part: Part) -> bytes:
    if isinstance(part, bytes):
        return part
    if isinstance(part, str):
        return part.encode("utf-8", "surrogatepass")
    return json.dumps(part, separators=(",", ":")).encode()


def hs(secret: bytes = SECRET, alg: str = "HS256") -> Signer:
    digest = _HASHES[alg[2:]]
    return lambda data: hmac.new(secret, data, digest).digest()


def rs(key: rsa.RSAPrivateKey, alg: str = "RS256") -> Signer:
    hash_type = _CRYPTO_HASHES[alg[2:]]
    if alg.startswith("PS"):
        pad: padding.AsymmetricPadding = padding.PSS(
            mgf=padding.MGF1(hash_type()), salt_length=hash_type().digest_size
        )
    else:
        pad = padding.PKCS1v15()
    return lambda data: key.sign(data, pad, hash_type())


def es(key: ec.EllipticCurvePrivateKey, alg: str = "ES256") -> Signer:
    """ECDSA with the JWS ``r || s`` signature format (RFC 7518 §3.4)."""
    hash_type = _CRYPTO_HASHES[alg[2:]]
    size = (key.curve.key_size + 7) // 8

    def sign(data: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hash_type())))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    return sign


def forge(
    header: Part,
    payload: Part,
    signer: Signer | None = None,
    *,
    signature: bytes | str | None = None,
    encode: Callable[[bytes], str] = b64url,
) -> str:
    """``header.payload.signature`` with every part under the caller's control.

    ``signer`` signs the exact ASCII signing input; ``signature`` (bytes, or a ready segment
    string) overrides it; neither gives an empty third segment.
    """
    signing_input = f"{encode(raw(header))}.{encode(raw(payload))}"
    if isinstance(signature, str):
        return f"{signing_input}.{signature}"
    if signature is None:
        signature = signer(signing_input.encode("utf-8")) if signer else b""
    return f"{signing_input}.{b64url(signature)}"


def sign_segments(header_segment: str, payload_segment: str, signer: Signer) -> str:
    """Sign already encoded (possibly malformed) segments as they are."""
    signing_input = f"{header_segment}.{payload_segment}"
    return f"{signing_input}.{b64url(signer(signing_input.encode('utf-8')))}"


def hs256(payload: Part, *, secret: bytes = SECRET, **header: Any) -> str:
    """An HS256 token with ``{"alg": "HS256", "typ": "JWT", **header}``."""
    return forge({"alg": "HS256", "typ": "JWT", **header}, payload, hs(secret))


# ---------------------------------------------------------------- keys


@cache
def rsa_key(index: int = 0, bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@cache
def ec_key(index: int = 0, curve: str = "P-256") -> ec.EllipticCurvePrivateKey:
    curves: dict[str, ec.EllipticCurve] = {
        "P-256": ec.SECP256R1(),
        "P-384": ec.SECP384R1(),
        "P-521": ec.SECP521R1(),
    }
    return ec.generate_private_key(curves[curve])


def _b64_uint(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(length, "big"))


def rsa_jwk(
    key: rsa.RSAPrivateKey | rsa.RSAPublicKey, kid: str | None, **extra: Any
) -> dict[str, Any]:
    """A standard JWK (base64url ``n``/``e``) of the public half."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    numbers = public.public_numbers()
    jwk: dict[str, Any] = {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "n": _b64_uint(numbers.n),
        "e": _b64_uint(numbers.e),
    }
    if kid is not None:
        jwk["kid"] = kid
    return {**jwk, **extra}


def xsolla_key(key: rsa.RSAPrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    """One entry of Xsolla Login's project keys: ``n`` and ``e`` as hex strings."""
    numbers = key.public_key().public_numbers()
    entry = {"alg": "RS256", "e": f"{numbers.e:x}", "kid": kid, "kty": "RSA", "n": f"{numbers.n:x}"}
    return {**entry, "use": "sig", **extra}


def ec_jwk(key: ec.EllipticCurvePrivateKey, kid: str | None, **extra: Any) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    size = (key.curve.key_size + 7) // 8
    crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[key.curve.name]
    jwk: dict[str, Any] = {
        "kty": "EC",
        "use": "sig",
        "crv": crv,
        "x": _b64_uint(numbers.x, size),
        "y": _b64_uint(numbers.y, size),
    }
    if kid is not None:
        jwk["kid"] = kid
    return {**jwk, **extra}


def jwks(*keys: Mapping[str, Any]) -> bytes:
    return json.dumps({"keys": list(keys)}).encode()


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_der(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_pkcs1_pem(key: rsa.RSAPrivateKey) -> bytes:
    """``-----BEGIN RSA PUBLIC KEY-----``: another key text to confuse."""
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
    )


def public_openssh(key: rsa.RSAPrivateKey) -> bytes:
    """``ssh-rsa AAAA...``: the key form of the CVE-2022-29217 key-confusion exploit."""
    return key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )


# ---------------------------------------------------------------- fake key server


@dataclass
class KeyServer:
    """A scriptable key server on a real loopback port; change the fields between requests."""

    url: str = ""
    body: bytes = b'{"keys": []}'
    status: int = 200
    content_type: str = "application/json"
    chunked: bool = False
    #: when set, each request waits for it (to hold a fetch in flight)
    gate: asyncio.Event | None = None
    requests: int = 0
    #: set whenever a request arrives at ``/keys``
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    redirect_hits: int = 0
    server: TestServer | None = field(default=None, repr=False)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        self.arrived.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.chunked:
            response = web.StreamResponse(status=self.status)
            response.content_type = self.content_type
            response.enable_chunked_encoding()
            await response.prepare(request)
            for start in range(0, len(self.body), 1000):
                await response.write(self.body[start : start + 1000])
            await response.write_eof()
            return response
        return web.Response(body=self.body, status=self.status, content_type=self.content_type)

    async def moved(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/elsewhere")

    async def elsewhere(self, request: web.Request) -> web.StreamResponse:
        self.redirect_hits += 1
        return web.Response(body=self.body, content_type="application/json")

    def path_url(self, path: str) -> str:
        return self.url.rsplit("/", 1)[0] + path


async def start_key_server(aiohttp_server: AiohttpServer, body: bytes = b"") -> KeyServer:
    """Serve ``/keys`` (scriptable), ``/moved`` (302 to ``/elsewhere``) and ``/elsewhere``."""
    state = KeyServer()
    if body:
        state.body = body
    app = web.Application()
    app.router.add_get("/keys", state.handle)
    app.router.add_get("/moved", state.moved)
    app.router.add_get("/elsewhere", state.elsewhere)
    state.server = server = await aiohttp_server(app)
    state.url = str(server.make_url("/keys"))
    return state


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
