"""The token suites both ways: as a first request (the application answers) and as a repeat
(the token path's steps over a batch, :mod:`bridge.http.fastpath`).

A repeat is a request whose login token the gateway has verified before. To make every token
request of a test one, :func:`pre_verifying` verifies the request's login cookies with the
gateway's own login systems just before the client sends it, as an earlier request would have
(without counting anything against the limits, which an earlier request would have done).
"""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import aiohttp
from aiohttp import web

from bridge.errors import BridgeError
from bridge.http.fastpath import FastTokens
from bridge.login.systems import verify_cookies
from bridge.state import FAST_PATH

#: how token requests reach the gateway
WAYS = ("app", "fast")


def pre_verifying(app: web.Application) -> aiohttp.TraceConfig:
    """A client trace that verifies each request's ``Cookie`` headers before it is sent."""

    async def on_request_start(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        fast = app[FAST_PATH]
        assert isinstance(fast, FastTokens)
        cookies = params.headers.getall("Cookie", ())
        if cookies:
            # the fast path's own login systems (bound at start-up), as a first request uses them
            with contextlib.suppress(BridgeError):
                await verify_cookies(fast._systems, cookies)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    return trace
