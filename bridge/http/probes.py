"""Health, readiness and the published keys."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiohttp import hdrs, web

from bridge.redis import SharedRedis
from bridge.targets.base import Signer


class ProbeHandlers:
    """``/healthz``, ``/readyz`` and ``/.well-known/jwks.json``."""

    def __init__(self, signers: Mapping[str, Signer], *, draining: asyncio.Event) -> None:
        self._draining = draining
        keys = (signer.public_jwk() for signer in signers.values())
        self._jwks = {"keys": [jwk for jwk in keys if jwk is not None]}
        self._redis: SharedRedis | None = None

    def bind(self, redis: SharedRedis | None) -> None:
        self._redis = redis

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        """Ready unless draining or a configured Redis is unreachable."""
        if self._draining.is_set():
            return web.json_response(
                {"status": "draining", "code": "draining",
                 "description": "This instance is shutting down"},
                status=503,
            )  # fmt: skip
        if self._redis is not None and not await self._redis.ping():
            return web.json_response(
                {"status": "unavailable", "code": "redis_unavailable",
                 "description": "The configured Redis is unreachable"},
                status=503,
            )  # fmt: skip
        return web.json_response({"status": "ok"})

    async def jwks(self, request: web.Request) -> web.Response:
        """Public keys of the asymmetric targets, so a vendor or a test can verify our tokens."""
        response = web.json_response(self._jwks)
        response.headers[hdrs.CACHE_CONTROL] = "public, max-age=300"
        return response
