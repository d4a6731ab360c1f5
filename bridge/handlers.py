"""Token, health and key-set handlers: HTTP in, calls on verifier and signers, HTTP out."""

from __future__ import annotations

import orjson
from aiohttp import hdrs, web

from bridge import keys
from bridge.cookies import read_cookie
from bridge.errors import TargetNotFound, TokenError
from bridge.fetchmeta import check_fetch_metadata
from bridge.log import SUBJECT, TARGET
from bridge.ratelimit import ADDRESS as ADDRESS_LIMIT
from bridge.ratelimit import SUBJECT as SUBJECT_LIMIT
from bridge.targets import MintedToken, Signer

JWT_CONTENT_TYPE = "application/jwt"
JSON_CONTENT_TYPE = "application/json"


def _json(body: object) -> web.Response:
    """A JSON answer serialised by orjson (the token path's answers are small and hot)."""
    return web.Response(body=orjson.dumps(body), content_type=JSON_CONTENT_TYPE)


async def _mint(request: web.Request, signer: Signer) -> MintedToken:
    request[TARGET] = signer.name
    settings = request.app[keys.SETTINGS]
    check_fetch_metadata(request.headers, settings.cors.origins)
    limits = request.app[keys.RATE_LIMITS]
    forwarded = request.headers.getall(hdrs.X_FORWARDED_FOR, ())
    address = limits.client_address(request.remote, forwarded)
    try:
        token = read_cookie(request.headers.getall(hdrs.COOKIE, ()), settings.upstream.cookie)
        identity = await request.app[keys.VERIFIER].verify(token)
    except TokenError:
        await limits.check(ADDRESS_LIMIT, address)  # failed attempts count (and may be a 429)
        raise
    request[SUBJECT] = identity.sub
    # both limits in one check: one Redis round trip when they are shared
    await limits.check_all([(ADDRESS_LIMIT, address), (SUBJECT_LIMIT, identity.sub)])
    return signer.sign(identity)


def _signer(request: web.Request, name: str) -> Signer:
    signer = request.app[keys.SIGNERS].get(name)
    if signer is None:
        raise TargetNotFound()
    return signer


async def generate_token(request: web.Request) -> web.Response:
    """Xsolla-compatible: ``{"token": ...}`` for the default target."""
    settings = request.app[keys.SETTINGS]
    minted = await _mint(request, _signer(request, settings.default))
    return _json({"token": minted.token})


def _wants_jwt(request: web.Request) -> bool:
    accept = request.headers.get(hdrs.ACCEPT, "")
    return any(part.split(";")[0].strip().lower() == JWT_CONTENT_TYPE for part in accept.split(","))


async def target_token(request: web.Request) -> web.Response:
    """A token for the named target, as JSON or, on request, as ``application/jwt``."""
    name = request.match_info["name"]
    minted = await _mint(request, _signer(request, name))
    if _wants_jwt(request):
        return web.Response(text=minted.token, content_type=JWT_CONTENT_TYPE)
    return _json({"token": minted.token, "target": name, "expires_at": minted.expires_at})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready unless a configured Redis is unreachable (the token path never needs it)."""
    if request.app[keys.DRAIN].active:
        return web.json_response(
            {"status": "draining", "code": "draining",
             "description": "This instance is shutting down"},
            status=503,
        )  # fmt: skip
    cache = request.app.get(keys.CACHE)
    if cache is not None and not await cache.ping():
        return web.json_response(
            {"status": "unavailable", "code": "redis_unavailable",
             "description": "The configured Redis is unreachable"},
            status=503,
        )  # fmt: skip
    return web.json_response({"status": "ok"})


async def jwks(request: web.Request) -> web.Response:
    """Public keys of the asymmetric targets, so a vendor or a test can verify our tokens."""
    found = (signer.public_jwk() for signer in request.app[keys.SIGNERS].values())
    response = web.json_response({"keys": [jwk for jwk in found if jwk is not None]})
    response.headers[hdrs.CACHE_CONTROL] = "public, max-age=300"
    return response
