"""The gateway's one middleware: request id, errors as JSON, standard headers, access line.

``edge_middleware`` is the one place where exceptions become HTTP: a :class:`BridgeError`
becomes its status with ``{"code", "description"}``; aiohttp's own HTTP errors (404 for an
unknown route, 405, 413, ...) get the same JSON shape; anything else is logged (without the
request's cookies or headers) and answered as a bare 500, which tests treat as a bug.

It also holds the HTTP/1 line aiohttp leaves to the application: a request line whose version
is not HTTP/1.0 or HTTP/1.1 (``HTTP/2.0`` on the plain port, ``HTTP/0.9`` or no version at all,
which aiohttp's parser accepts) is 505 or 400 and never reaches a handler, and a body over
``server.max_body_bytes`` is 413 on every route, whether or not its handler would read it: a
``Content-Length`` over the limit is refused unread, a chunked body is read up to the limit.

It is also where every answer gets its standard headers and a listed origin's CORS headers,
where a draining instance (see :mod:`bridge.serve`) closes keep-alive connections, and where
each request is recorded for its access line and metrics (:mod:`bridge.access`). All of that is
one middleware, not several: each middleware layer is a coroutine per request, and aiohttp adds
a layer of its own whenever there is any.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import HttpVersion10, HttpVersion11, hdrs, web
from aiohttp.typedefs import Handler, Middleware

from bridge.access import AccessRecords
from bridge.access_records import (
    REQUEST_ID_HEADER,
    UNMATCHED,
    AccessRecord,
    request_id_for,
    route_of,
    unmatched_path,
)
from bridge.errors import BridgeError, DevelopmentOnly
from bridge.forwarded import PROXY_HEADERS
from bridge.http.cors import ActualCors
from bridge.state import ERROR_REASON, LOGIN, REQUEST_ID, SUBJECT, TARGET

log = logging.getLogger("bridge.errors")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    429: "rate_limited",
    431: "headers_too_large",
    505: "http_version_not_supported",
}
_HTTP_1 = (HttpVersion10, HttpVersion11)
#: on every answer unless its handler chose otherwise
STANDARD_HEADERS = ((hdrs.X_CONTENT_TYPE_OPTIONS, "nosniff"), (hdrs.CACHE_CONTROL, "no-store"))


def error_response(status: int, code: str, description: str) -> web.Response:
    return web.json_response({"code": code, "description": description}, status=status)


def _answer_for(request: web.Request, exc: Exception) -> web.Response:
    """The JSON answer for an exception that reached the boundary."""
    if isinstance(exc, BridgeError):
        request[ERROR_REASON] = exc.reason
    return error_answer(request.method, request.rel_url.path, exc)


def error_answer(method: str, path: str, exc: Exception) -> web.Response:
    """The JSON answer for an exception, whichever way the request went: a
    :class:`BridgeError`'s or an HTTP error's code, else a 500 (logged)."""
    if isinstance(exc, BridgeError):
        response = error_response(exc.status, exc.code, exc.description)
        if exc.retry_after is not None:
            response.headers[hdrs.RETRY_AFTER] = str(max(1, int(exc.retry_after)))
        return response
    if isinstance(exc, web.HTTPException):
        code = _HTTP_CODES.get(exc.status, "http_error")
        response = error_response(exc.status, code, exc.reason)
        for name in (hdrs.ALLOW, hdrs.RETRY_AFTER):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    # the traceback names code, never request data; the answer says nothing more
    log.error("unhandled error on %s %s", method, path, exc_info=exc)
    return error_response(500, "internal_error", "Internal error")


async def _check_framing(request: web.Request, max_body_bytes: int | None) -> None:
    """Refuse what HTTP/1 does not allow here before any handler runs.

    * a request line without a version or with ``HTTP/0.9``: 400 (HTTP/0.9 has no headers, so
      such a request is malformed either way); another major version (``HTTP/2.0``): 505;
    * a ``Content-Length`` over ``max_body_bytes``: 413 without reading the body; a chunked body
      is read (and kept for the handler) up to the limit, and is 413 beyond it.
    """
    version = request.version
    if version not in _HTTP_1:
        if version.major >= 2:
            raise web.HTTPVersionNotSupported()
        raise web.HTTPBadRequest()
    if max_body_bytes is None or not request.body_exists:
        return
    length = request.content_length
    if length is None:
        await request.read()  # aiohttp stops at client_max_size (= max_body_bytes) with a 413
    elif length > max_body_bytes:
        raise web.HTTPRequestEntityTooLarge(max_size=max_body_bytes, actual_size=length)


def edge_middleware(
    records: AccessRecords | None,
    *,
    draining: asyncio.Event | None = None,
    cors: ActualCors | None = None,
    max_body_bytes: int | None = None,
    local_only: bool = False,
) -> Middleware:
    """The outermost (and only) middleware. Per request:

    * HTTP/1.0 and HTTP/1.1 only, and no body over ``max_body_bytes`` (see :func:`_check_framing`);
    * the request id: the caller's ``X-Request-ID`` when safe, else a fresh one; echoed;
    * errors become ``{"code", "description"}`` answers;
    * ``nosniff`` and ``no-store`` unless a handler chose; ``Vary: Origin``, because whether
      CORS headers are present depends on ``Origin``, so a shared cache must never hand one
      origin's answer to another;
    * a listed origin's CORS headers on the CORS routes (:mod:`bridge.cors`);
    * ``Connection: close`` while draining, so clients leave their keep-alive connections (and
      after a refused HTTP version);
    * a record of the request, for its metrics and its access line;
    * ``local_only`` (a gateway running with the example's public development secrets): a
      request that came through a proxy is 403 ``development_only``.
    """
    perf_counter = time.perf_counter
    wall_clock = time.time
    drain = draining if draining is not None else asyncio.Event()
    if records is not None and not records.wanted:
        records = None

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = perf_counter()
        request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
        request[REQUEST_ID] = request_id
        status = 499  # unless an answer is made: the client went away (the task was cancelled)
        try:
            try:
                await _check_framing(request, max_body_bytes)
                if local_only and any(name in request.headers for name in PROXY_HEADERS):
                    raise DevelopmentOnly(reason="development_secrets_proxied")
                response = await handler(request)
            except web.HTTPException as exc:
                if exc.status < 400:  # a redirect: aiohttp sends it as it is
                    status = exc.status
                    exc.headers[REQUEST_ID_HEADER] = request_id
                    raise
                response = _answer_for(request, exc)
            except Exception as exc:
                response = _answer_for(request, exc)
            status = response.status
            headers = response.headers
            headers[REQUEST_ID_HEADER] = request_id
            for name, value in STANDARD_HEADERS:
                headers.setdefault(name, value)
            vary = headers.get(hdrs.VARY)
            if vary is None:
                headers[hdrs.VARY] = "Origin"
            elif "origin" not in vary.lower():
                headers[hdrs.VARY] = f"{vary}, Origin"
            if cors is not None:
                cors.add_headers(request, headers)
            if drain.is_set() or request.version not in _HTTP_1:
                response.force_close()  # before prepare: aiohttp then says Connection: close
            return response
        finally:
            if records is not None:
                route = route_of(request)
                records.add(
                    AccessRecord(
                        wall_clock(),
                        request_id,
                        request.method,
                        route,
                        status,
                        perf_counter() - started,
                        request.get(TARGET),
                        request.get(SUBJECT),
                        request.get(ERROR_REASON) if status >= 400 else None,
                        request.get(LOGIN),
                        unmatched_path(request) if route == UNMATCHED else None,
                    )
                )

    return middleware
