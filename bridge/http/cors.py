"""CORS with credentials for an exact list of origins.

aiohttp-cors answers the preflight ``OPTIONS`` requests of the token routes (its validation of
``Access-Control-Request-Method`` and ``-Headers`` is where the subtle part of the standard
is). The headers of the actual answers are three fixed values per listed origin, added by the
edge middleware from :class:`ActualCors`: aiohttp-cors would add them from a response signal
that, measured with ``benchmarks/bench.py``, cost about a fifth of a token request (a coroutine
and a resource, route and view-class check per answer). Both read the same settings.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import hdrs, web
from multidict import CIMultiDict

#: response headers a listed origin's script may read besides the simple ones
EXPOSE_HEADERS = ("Retry-After",)


class ActualCors:
    """The ``Access-Control-*`` headers of non-preflight answers on the CORS routes.

    A listed origin gets ``Allow-Origin`` (itself), ``Allow-Credentials: true`` and
    ``Expose-Headers``, on every answer of a CORS route, errors included, so that the page can
    read a 401 or 422. Any other ``Origin`` (or none) gets no ``Access-Control-*`` at all.
    """

    __slots__ = ("_by_origin", "_resources")

    def __init__(self, origins: Iterable[str]) -> None:
        self._by_origin = {
            origin: (
                (hdrs.ACCESS_CONTROL_EXPOSE_HEADERS, ",".join(EXPOSE_HEADERS)),
                (hdrs.ACCESS_CONTROL_ALLOW_ORIGIN, origin),
                (hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS, "true"),
            )
            for origin in origins
        }
        self._resources: set[web.AbstractResource] = set()

    @property
    def origins(self) -> frozenset[str]:
        return frozenset(self._by_origin)

    def headers_for(self, origin: str) -> tuple[tuple[str, str], ...]:
        """The headers an actual answer on a CORS route carries for ``origin`` (none when it
        is not listed)."""
        return self._by_origin.get(origin, ())

    def enable(self, route: web.AbstractRoute) -> None:
        """Answers on ``route``'s resource get the headers (all its methods, like aiohttp-cors)."""
        self._resources.add(route.resource)  # type: ignore[arg-type]

    def add_headers(self, request: web.Request, headers: CIMultiDict[str]) -> None:
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is None:
            return
        found = self._by_origin.get(origin)
        if found is None or request.method == hdrs.METH_OPTIONS:  # preflights: aiohttp-cors
            return
        if request.match_info.route.resource not in self._resources:
            return
        for name, value in found:
            headers[name] = value
