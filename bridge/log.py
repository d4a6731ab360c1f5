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


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
