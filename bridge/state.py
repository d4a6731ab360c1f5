"""Typed application and request state: every ``web.AppKey`` and ``web.RequestKey``, once.

This module imports nothing of the package, so that any module may import it. The
application's own objects (login systems, targets, limits, lookups) are not kept in the app's
state at all: ``create_app`` (:mod:`bridge.app`) hands them to the handlers that use them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

LowLevelHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


class FastPath(Protocol):
    """What :mod:`bridge.http.fastpath` offers the runner: a handler in front of the app's."""

    #: requests it answered itself, and the batches it took them in
    answered: int
    batches: int

    def wrap(self, app_handler: LowLevelHandler) -> LowLevelHandler: ...


#: set on SIGTERM while the process drains (``bridge.serve``): /readyz answers 503 and every
#: answer closes its connection
DRAINING = web.AppKey("draining", asyncio.Event)
#: set (with DRAINING) when a reload replaces this worker: answers close their connections so
#: that clients move to the new workers, but /readyz stays 200 (the instance is still ready)
RETIRING = web.AppKey("retiring", asyncio.Event)

#: puts the token routes' fast path (:mod:`bridge.http.fastpath`) in front of the
#: application's handler: see :func:`bridge.app.install_fast_path`
FAST_PATH = web.AppKey("fast_path", FastPath)

#: filled along a request and read by its access record
REQUEST_ID = web.RequestKey("request_id", str)
TARGET = web.RequestKey("target", str)
SUBJECT = web.RequestKey("subject", str)
#: the short name of the login system that verified the request's login token
LOGIN = web.RequestKey("login", str)
ERROR_REASON = web.RequestKey("error_reason", str)
