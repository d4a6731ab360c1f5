"""Logging set-up and the one access-log line per request.

The line names method, route, status, duration, target and login subject. It never holds the
query string, a cookie, a header value or a token: the route is the matched resource's
pattern (``/v1/targets/{name}/token``), not the raw path.
"""

from __future__ import annotations

import logging
import sys

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

#: request keys filled along the way and read by the access log
TARGET = web.RequestKey("target", str)
SUBJECT = web.RequestKey("subject", str)
ERROR_REASON = web.RequestKey("error_reason", str)

access_log = logging.getLogger("bridge.access")


def route_of(request: web.BaseRequest) -> str:
    match_info = getattr(request, "match_info", None)
    route = getattr(match_info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is None:
        return "(unmatched)"
    canonical: str = resource.canonical
    return canonical


class AccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %.1fms target=%s subject=%s reason=%s",
            request.method,
            route_of(request),
            response.status,
            time * 1000,
            request.get(TARGET, "-"),
            request.get(SUBJECT, "-"),
            request.get(ERROR_REASON, "-"),
        )


class RedactParseErrors(logging.Filter):
    """Strip the exception text from aiohttp's "Error handling request" records.

    When a request cannot be parsed (a header over the size limit, say) aiohttp logs the
    exception, whose message quotes the first bytes of the offending line: the ``Cookie``
    header and so a login token. The record keeps its message and the exception's type only.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.msg} ({type(record.exc_info[1]).__name__}, details redacted)"
            record.exc_info = None
            record.exc_text = None
        return True


_REDACTION = RedactParseErrors()


def install_redaction() -> None:
    """Idempotent: filter aiohttp's server logger (its records can quote request headers)."""
    server_logger = logging.getLogger("aiohttp.server")
    if _REDACTION not in server_logger.filters:
        server_logger.addFilter(_REDACTION)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
