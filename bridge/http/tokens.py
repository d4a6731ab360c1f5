"""The token endpoints: HTTP in, the verifier and a target's signer, HTTP out.

    GET|POST /generate/token            the default target's token, Xsolla's answer shape
    GET|POST /v1/targets/{name}/token   a named target's token, with its target and expiry

A request reads top to bottom: Fetch Metadata -> the client's address -> the login cookies
(each login system's) -> ``LoginSystems.verify`` -> :class:`~bridge.login.identity.Identity`
-> the address and subject limits -> ``signer.sign(identity)`` (or, for a broker,
``await broker.obtain(identity)``) -> JSON. A failed login token counts against the address
limit only (and may be a 429).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import orjson
from aiohttp import hdrs, web
from aiohttp.hdrs import FORWARDED, X_FORWARDED_FOR

from bridge.errors import SsoOnlyTarget, TargetNotFound, TokenError
from bridge.http.fetchmeta import check_fetch_metadata
from bridge.login.identity import Identity
from bridge.login.systems import LoginSystems, verify_cookies
from bridge.ratelimit import ADDRESS as ADDRESS_LIMIT
from bridge.ratelimit import SUBJECT as SUBJECT_LIMIT
from bridge.ratelimit import RateLimits
from bridge.state import LOGIN, SUBJECT, TARGET
from bridge.targets.base import Broker, MintedToken, Signer

JWT_CONTENT_TYPE = "application/jwt"
JSON_CONTENT_TYPE = "application/json"

Answer = Callable[[web.Request, Signer, MintedToken], web.Response]


def json_response(body: object) -> web.Response:
    """A JSON answer serialised by orjson (the token path's answers are small and hot)."""
    return web.Response(body=orjson.dumps(body), content_type=JSON_CONTENT_TYPE)


def wants_jwt(headers: Mapping[str, str]) -> bool:
    """Whether ``Accept`` asks for ``application/jwt`` (the bare token)."""
    accept = headers.get(hdrs.ACCEPT, "")
    return any(part.split(";")[0].strip().lower() == JWT_CONTENT_TYPE for part in accept.split(","))


def _xsolla_answer(request: web.Request, signer: Signer, minted: MintedToken) -> web.Response:
    """Xsolla-compatible: ``{"token": ...}``."""
    return json_response({"token": minted.token})


def _target_answer(request: web.Request, signer: Signer, minted: MintedToken) -> web.Response:
    """The token as JSON with its target and expiry (and what the vendor's credential says
    besides) or, on request, a JWT alone as ``application/jwt``."""
    if signer.issues_jwt and wants_jwt(request.headers):
        return web.Response(text=minted.token, content_type=JWT_CONTENT_TYPE)
    body = {"token": minted.token, "target": signer.name, "expires_at": minted.expires_at}
    if minted.extra:
        body.update(minted.extra)
    return json_response(body)


async def identify(request: web.Request, verifier: LoginSystems, limits: RateLimits) -> Identity:
    """The request's verified login user, counted against the address and subject limits.

    A login token that cannot be used counts against the address limit alone (which may
    answer 429 instead) and is raised as it was. Shared by every route that acts for the
    visitor: the token endpoints and the help center sign-on.
    """
    headers = request.headers
    address = limits.client_address(
        request.remote, headers.getall(X_FORWARDED_FOR, ()), headers.getall(FORWARDED, ())
    )
    try:
        identity = await verify_cookies(verifier, headers.getall(hdrs.COOKIE, ()))
    except TokenError:
        await limits.check((ADDRESS_LIMIT, address))  # failed attempts count too
        raise
    request[SUBJECT] = identity.sub
    request[LOGIN] = identity.login
    # both limits in one check: one Redis round trip when they are shared
    await limits.check((ADDRESS_LIMIT, address), (SUBJECT_LIMIT, identity.sub))
    return identity


class TokenHandlers:
    """``generate_token`` and ``target_token``, bound at start-up (:meth:`bind`) to the
    verifier and the limits."""

    def __init__(
        self,
        signers: Mapping[str, Signer],
        *,
        default: str,
        cors_origins: list[str],
    ) -> None:
        self._signers = signers
        self._default = signers[default]
        self._origins = cors_origins
        self.generate_token = self._handler(lambda request: self._default, _xsolla_answer)
        self.target_token = self._handler(self._named, _target_answer)

    # set by bind(), at start-up, before any request
    _verifier: LoginSystems
    _limits: RateLimits

    def bind(self, verifier: LoginSystems, limits: RateLimits) -> None:
        self._verifier, self._limits = verifier, limits

    def _named(self, request: web.Request) -> Signer:
        signer = self._signers.get(request.match_info["name"])
        if signer is None:
            raise TargetNotFound()
        if signer.type == "zendesk_sso":  # its token only ever travels in a form to Zendesk
            raise SsoOnlyTarget()
        return signer

    def _handler(
        self, pick: Callable[[web.Request], Signer], answer: Answer
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            signer = pick(request)
            request[TARGET] = signer.name
            check_fetch_metadata(request.headers, self._origins)
            identity = await identify(request, self._verifier, self._limits)
            if isinstance(signer, Broker):  # the vendor issues it: a call, through the cache
                return answer(request, signer, await signer.obtain(identity))
            return answer(request, signer, signer.sign(identity))

        return handle
