"""The error middleware: error translation and the headers every answer carries.

``error_middleware`` is the one place where exceptions become HTTP: a :class:`BridgeError`
becomes its status with ``{"code", "description"}``; aiohttp's own HTTP errors (404 for an
unknown route, 405, 413, ...) get the same JSON shape; anything else is logged (without the
request's cookies or headers) and answered as a bare 500, which tests treat as a bug.
"""

from __future__ import annotations

import logging

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from bridge.errors import BridgeError
from bridge.log import ERROR_REASON

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
}


def error_response(status: int, code: str, description: str) -> web.Response:
    return web.json_response({"code": code, "description": description}, status=status)


def _answer_for(request: web.Request, exc: Exception) -> web.Response:
    """The JSON answer for an exception that reached the boundary."""
    if isinstance(exc, BridgeError):
        request[ERROR_REASON] = exc.reason
        response = error_response(exc.status, exc.code, exc.description)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            response.headers[hdrs.RETRY_AFTER] = str(max(1, int(retry_after)))
        return response
    if isinstance(exc, web.HTTPException):
        code = _HTTP_CODES.get(exc.status, "http_error")
        response = error_response(exc.status, code, exc.reason)
        for name in (hdrs.ALLOW, hdrs.RETRY_AFTER):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    # the traceback names code, never request data; the answer says nothing more
    log.error("unhandled error on %s %s", request.method, request.rel_url.path, exc_info=exc)
    return error_response(500, "internal_error", "Internal error")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors become ``{"code", "description"}``; every answer gets the standard headers.

    ``nosniff`` and ``no-store`` everywhere unless a handler chose; ``Vary: Origin`` because
    whether CORS headers are present depends on ``Origin``, so a shared cache must never hand
    one origin's answer to another (aiohttp-cors does not add it). One middleware, not two:
    this runs on every request.
    """
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _answer_for(request, exc)
    except Exception as exc:
        response = _answer_for(request, exc)
    headers = response.headers
    headers.setdefault(hdrs.X_CONTENT_TYPE_OPTIONS, "nosniff")
    headers.setdefault(hdrs.CACHE_CONTROL, "no-store")
    vary = headers.get(hdrs.VARY)
    if vary is None:
        headers[hdrs.VARY] = "Origin"
    elif "origin" not in vary.lower():
        headers[hdrs.VARY] = f"{vary}, Origin"
    return response
