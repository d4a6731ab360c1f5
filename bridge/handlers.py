"""Token, health and key-set handlers: HTTP in, calls on verifier and signers, HTTP out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import orjson
from aiohttp import hdrs, web
from aiohttp.hdrs import X_FORWARDED_FOR

from bridge import keys
from bridge.cookies import read_cookie
from bridge.errors import TargetNotFound, TokenError
from bridge.fetchmeta import check_fetch_metadata
from bridge.log import SUBJECT, TARGET
from bridge.ratelimit import ADDRESS as ADDRESS_LIMIT
from bridge.ratelimit import SUBJECT as SUBJECT_LIMIT
from bridge.ratelimit import RateLimits
from bridge.settings import Settings
from bridge.targets import MintedToken, Signer
from bridge.upstream import Verifier

JWT_CONTENT_TYPE = "application/jwt"
JSON_CONTENT_TYPE = "application/json"


def _json(body: object) -> web.Response:
    """A JSON answer serialised by orjson (the token path's answers are small and hot)."""
    return web.Response(body=orjson.dumps(body), content_type=JSON_CONTENT_TYPE)


def _wants_jwt(request: web.Request) -> bool:
    accept = request.headers.get(hdrs.ACCEPT, "")
    return any(part.split(";")[0].strip().lower() == JWT_CONTENT_TYPE for part in accept.split(","))


def _xsolla_answer(request: web.Request, target: str, minted: MintedToken) -> web.Response:
    """Xsolla-compatible: ``{"token": ...}``."""
    return _json({"token": minted.token})


def _target_answer(request: web.Request, target: str, minted: MintedToken) -> web.Response:
    """The token as JSON with its target and expiry or, on request, as ``application/jwt``."""
    if _wants_jwt(request):
        return web.Response(text=minted.token, content_type=JWT_CONTENT_TYPE)
    return _json({"token": minted.token, "target": target, "expires_at": minted.expires_at})


class TokenRoutes:
    """The token endpoints: ``generate_token`` (the default target, Xsolla's shape) and
    ``target_token`` (``/v1/targets/{name}/token``).

    Both are one coroutine each, bound to the app's verifier and limits at start-up
    (:meth:`bind`): the common case (a login token verified before, in-process limits) runs
    without any other coroutine or app look-up, since each layer measurably costs a token
    request (py-spy, ``tests/benchmarks``). What needs I/O (a first verification against
    published keys, limits shared through Redis) is awaited as before.
    """

    def __init__(self, settings: Settings, signers: Mapping[str, Signer]) -> None:
        self._signers = signers
        self._default = signers[settings.default]
        self._origins = settings.cors.origins
        self._cookie = settings.upstream.cookie
        self.generate_token = self._handler(lambda request: self._default, _xsolla_answer)
        self.target_token = self._handler(self._named, _target_answer)

    # set by bind(), at start-up, before any request
    _verifier: Verifier
    _limits: RateLimits

    async def bind(self, app: web.Application) -> AsyncIterator[None]:
        """``cleanup_ctx``, after the verifier's and the limits' own."""
        self._verifier = app[keys.VERIFIER]
        self._limits = app[keys.RATE_LIMITS]
        yield

    def _named(self, request: web.Request) -> Signer:
        signer = self._signers.get(request.match_info["name"])
        if signer is None:
            raise TargetNotFound()
        return signer

    def _handler(
        self,
        pick: Callable[[web.Request], Signer],
        answer: Callable[[web.Request, str, MintedToken], web.Response],
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            signer = pick(request)
            request[TARGET] = signer.name
            headers = request.headers
            check_fetch_metadata(headers, self._origins)
            limits, verifier = self._limits, self._verifier
            address = limits.client_address(request.remote, headers.getall(X_FORWARDED_FOR, ()))
            try:
                token = read_cookie(headers.getall(hdrs.COOKIE, ()), self._cookie)
                identity = verifier.known(token) or await verifier.verify(token)
            except TokenError:
                # failed attempts count (and may be a 429)
                if not limits.check_all_now([(ADDRESS_LIMIT, address)]):
                    await limits.check(ADDRESS_LIMIT, address)
                raise
            request[SUBJECT] = identity.sub
            # both limits in one check: one Redis round trip when they are shared
            checks = [(ADDRESS_LIMIT, address), (SUBJECT_LIMIT, identity.sub)]
            if not limits.check_all_now(checks):
                await limits.check_all(checks)
            return answer(request, signer.name, signer.sign(identity))

        return handle


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
