"""JSON answers, without echoes, for requests that aiohttp cannot even parse.

A request that breaks HTTP/1.1 (a bare LF, a space before a header's colon, a NUL in a header,
an over-long line, request smuggling with both ``Content-Length`` and ``Transfer-Encoding``)
never reaches the application or its middlewares: aiohttp's protocol handler answers 400
itself, as plain text **quoting the offending bytes**, which for a ``Cookie`` line is the
caller's login token. (``bridge.log`` already keeps those bytes out of the logs.)

:func:`install_safe_parse_errors` wraps ``RequestHandler.handle_error`` so that every such
answer is ``{"code", "description"}`` with a fixed description, ``Cache-Control: no-store``
and ``nosniff``, and the connection is still closed. aiohttp's own logging and its checks run
first, unchanged. 500s (an exception that escaped every middleware) keep aiohttp's answer,
which says nothing about the request outside debug mode.

aiohttp has no option for this, so it is a wrapper around one method, installed once
(idempotent) by ``create_app``; ``tests/adversarial/test_http_layer.py`` fails if an aiohttp
upgrade changes the method it wraps.
"""

from __future__ import annotations

from functools import wraps
from http import HTTPStatus
from typing import Any

from aiohttp import hdrs, web, web_protocol

_MARK = "_bridge_safe_parse_errors"

_CODES = {
    400: "bad_request",
    413: "payload_too_large",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "headers_too_large",
    501: "not_implemented",
    504: "gateway_timeout",
    505: "http_version_not_supported",
}


def safe_error_response(status: int) -> web.Response:
    """The JSON answer for a request aiohttp refused before routing it."""
    try:
        description = HTTPStatus(status).phrase
    except ValueError:
        description = "Bad request"
    response = web.json_response(
        {"code": _CODES.get(status, "bad_request"), "description": description},
        status=status,
        headers={hdrs.CACHE_CONTROL: "no-store", hdrs.X_CONTENT_TYPE_OPTIONS: "nosniff"},
    )
    response.force_close()
    return response


def install_safe_parse_errors() -> None:
    """Idempotent: make aiohttp's protocol-level error answers JSON without echoed bytes."""
    handler_class: Any = web_protocol.RequestHandler
    original = handler_class.handle_error
    if getattr(original, _MARK, False):
        return

    @wraps(original)
    def handle_error(
        self: web_protocol.RequestHandler,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        response: web.StreamResponse = original(self, request, status, exc, message)
        if status == HTTPStatus.INTERNAL_SERVER_ERROR:
            return response
        return safe_error_response(status)

    setattr(handle_error, _MARK, True)
    handler_class.handle_error = handle_error
