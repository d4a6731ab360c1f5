"""The root, health, readiness and the published keys."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import hdrs, web

from bridge.login.systems import LoginSystems
from bridge.redis import SharedRedis
from bridge.targets.base import Target

#: what ``GET /`` answers: what this is, and where to go next (nothing of the configuration)
INDEX = {
    "service": "bridge",
    "description": "Identity bridge: signs support widgets' credentials from the login cookie",
    "links": {
        "script": "/static/bridge.js",
        "token": "/v1/targets/{name}/token",
        "health": "/healthz",
        "readiness": "/readyz",
        "keys": "/.well-known/jwks.json",
    },
}


class ProbeHandlers:
    """``/``, ``/healthz``, ``/readyz`` and ``/.well-known/jwks.json``."""

    def __init__(
        self,
        targets: Mapping[str, Target],
        *,
        draining: asyncio.Event,
        retiring: asyncio.Event | None = None,
    ) -> None:
        self._draining = draining
        #: set when a reload replaces this worker: it closes its connections like a drain, but
        #: the instance stays ready (its replacement already serves)
        self._retiring = retiring if retiring is not None else asyncio.Event()
        keys = (target.public_jwk() for target in targets.values())
        self._jwks = {"keys": [jwk for jwk in keys if jwk is not None]}
        self._redis: SharedRedis | None = None
        self._systems: LoginSystems | None = None

    def bind(self, redis: SharedRedis | None, systems: LoginSystems) -> None:
        self._redis = redis
        self._systems = systems

    async def index(self, request: web.Request) -> web.Response:
        return web.json_response(INDEX)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        """Ready while this instance can mint tokens.

        503 while draining after SIGTERM, or while published login keys were never loaded.
        Redis is a cache: its state is in the body (and in ``bridge_redis_up``), not a 503.
        """
        if self._draining.is_set() and not self._retiring.is_set():
            return web.json_response(
                {"status": "draining", "code": "draining",
                 "description": "This instance is shutting down"},
                status=503,
            )  # fmt: skip
        if self._systems is None or not await self._systems.load_keys():
            return web.json_response(
                {"status": "unavailable", "code": "upstream_keys_unavailable",
                 "description": "The login system's signing keys were never obtained"},
                status=503,
            )  # fmt: skip
        body: dict[str, Any] = {"status": "ok", "redis": "none"}
        if self._redis is not None:
            # the ping also updates bridge_redis_up and moves a Sentinel pool to the master
            body["redis"] = "up" if await self._redis.ping() else "down"
        return web.json_response(body)

    async def jwks(self, request: web.Request) -> web.Response:
        """Public keys of the asymmetric targets, so a vendor or a test can verify our tokens."""
        response = web.json_response(self._jwks)
        response.headers[hdrs.CACHE_CONTROL] = "public, max-age=300"
        return response
