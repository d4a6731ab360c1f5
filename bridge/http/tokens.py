"""The token endpoints through the app: the token path's steps, one request at a time.

    GET|POST /generate/token            the default target's token, Xsolla's answer shape
    GET|POST /v1/targets/{name}/token   a named target's token, with its target and expiry

A request reads top to bottom through :mod:`bridge.http.pipeline`: screen (Fetch Metadata)
-> identify (the login cookies, ``LoginSystems.verify``) -> address -> limits -> mint
(``target.mint(identity)``: signed at once, or awaited from a broker's vendor) -> render; the
edge middleware adds the headers. A failed login token counts against the address limit only
(and may be a 429). :mod:`bridge.http.fastpath` runs the same steps over a batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import hdrs, web

from bridge.http.fetchmeta import check_fetch_metadata
from bridge.http.pipeline import (
    BARE_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    TOKEN_ROUTES,
    TokenRoute,
    bare,
    identify,
    pick,
    render,
)
from bridge.login.systems import LoginSystems
from bridge.ratelimit import RateLimits
from bridge.state import TARGET
from bridge.targets.base import MintedToken, Target

Handler = Callable[[web.Request], Awaitable[web.Response]]


class TokenHandlers:
    """One handler per token route (:data:`~bridge.http.pipeline.TOKEN_ROUTES`), bound at
    start-up (:meth:`bind`) to the login systems and the limits."""

    def __init__(
        self,
        targets: Mapping[str, Target],
        *,
        default: str,
        cors_origins: list[str],
    ) -> None:
        self._targets = targets
        self._default = default
        self._origins = cors_origins

    # set by bind(), at start-up, before any request
    _systems: LoginSystems
    _limits: RateLimits

    def bind(self, systems: LoginSystems, limits: RateLimits) -> None:
        self._systems, self._limits = systems, limits

    def routes(self) -> list[tuple[str, str, Handler]]:
        """(method, path, handler) of every token route."""
        return [
            (method, route.path, self._handler(route))
            for route in TOKEN_ROUTES
            for method in (hdrs.METH_GET, hdrs.METH_POST)
        ]

    def _handler(self, route: TokenRoute) -> Handler:
        targets, generate = self._targets, route.generate

        async def handle(request: web.Request) -> web.Response:
            name = self._default if generate else request.match_info["name"]
            target = pick(targets, name)
            request[TARGET] = target.name
            check_fetch_metadata(request.headers, self._origins)
            identity = await identify(request, self._systems, self._limits)
            minted = target.mint(identity)
            if not isinstance(minted, MintedToken):  # a broker: its vendor, through the cache
                minted = await minted
            jwt_alone = bare(target, generate, request.headers)
            content_type = BARE_CONTENT_TYPE if jwt_alone else JSON_CONTENT_TYPE
            body = render(target, generate, minted, jwt_alone)
            return web.Response(body=body, headers={hdrs.CONTENT_TYPE: content_type})

        return handle
