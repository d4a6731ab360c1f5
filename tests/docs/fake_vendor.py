"""A small fake of the two Zendesk APIs whose answer depends only on the id asked for.

Generated ids land on every kind of answer the gateway must translate: a linked or unlinked
visitor, no such visitor, refused API credentials, an outage, a slow answer past the lookup's
deadline; for the user search a match, no match, a user that only looks like a match, and a
429. So the schema checks see each documented lookup answer, with real HTTP on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator

from aiohttp import web

#: longer than the lookups' deadline in tests.docs.gateway (0.5 s): answers 504
SLOW_SECONDS = 0.8


def _bucket(ident: str, size: int) -> int:
    return hashlib.sha256(ident.encode("utf-8", "surrogateescape")).digest()[0] % size


async def _visitor(request: web.Request) -> web.StreamResponse:
    visitor_id = request.match_info["visitor_id"]
    bucket = _bucket(visitor_id, 6)
    if bucket == 0:
        return web.json_response(
            {"id": visitor_id, "name": "Ann Lee", "email": "ann@example.com",
             "phone": None, "notes": "", "banned": False,
             "created": "2026-01-02T03:04:05Z", "external_id": "login-user-1"}
        )  # fmt: skip
    if bucket == 1:
        return web.json_response({"id": visitor_id, "created": 1767322800, "banned": None})
    if bucket == 2:
        return web.json_response({"error": "not found"}, status=404)
    if bucket == 3:
        return web.json_response({"error": "unauthorized"}, status=401)
    if bucket == 4:
        return web.json_response({"error": "unavailable"}, status=503)
    await asyncio.sleep(SLOW_SECONDS)
    return web.json_response({"id": visitor_id})


async def _user_search(request: web.Request) -> web.StreamResponse:
    wanted = request.query.get("external_id", "")
    bucket = _bucket(wanted, 4)
    if bucket == 0:
        user = {"id": 4217, "name": "Ann Lee", "email": "ann@example.com",
                "external_id": wanted.upper(), "role": "end-user"}  # fmt: skip
        return web.json_response({"users": [user]})
    if bucket == 1:
        return web.json_response({"users": []})
    if bucket == 2:
        other = {"id": "4218", "name": None, "email": None, "external_id": "someone-else"}
        return web.json_response({"users": [other]})
    return web.json_response({"error": "slow down"}, status=429, headers={"Retry-After": "7"})


@contextlib.asynccontextmanager
async def fake_zendesk() -> AsyncIterator[str]:
    """Serve both APIs on a free loopback port; yields the base URL (Support's; Chat's is
    ``{url}/api/v2/chat``)."""
    app = web.Application()
    app.router.add_get("/api/v2/chat/visitors/{visitor_id}", _visitor)
    app.router.add_get("/api/v2/users/search", _user_search)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
