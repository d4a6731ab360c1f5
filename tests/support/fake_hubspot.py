"""A scriptable fake of HubSpot's visitor identification API: a real ``web.Application`` on a
loopback port.

By default it behaves like HubSpot: ``POST /visitor-identification/v3/tokens/create`` with the
right Bearer token and a JSON body with an ``email`` answers ``{"token": "hs-token-<n>"}`` (n
counts the tokens issued); a wrong token is 401. A test changes that by queueing
:class:`~tests.support.fake_zendesk.Reply` objects with :meth:`FakeHubSpot.then` (each
request takes the next one). Every request is recorded, with its JSON body.

Fixture: ``fake_hubspot`` (register this module as a pytest plugin).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from tests.support.fake_zendesk import _UNSET, Reply

ACCESS_TOKEN = "pat-na1-fake-hubspot-private-app-token-0123"
CREATE_PATH = "/visitor-identification/v3/tokens/create"


@dataclass(frozen=True)
class Created:
    path: str
    authorization: str | None
    body: Any


class FakeHubSpot:
    def __init__(self) -> None:
        #: a delay for default answers, so that concurrent requests overlap
        self.delay = 0.0
        self.requests: list[Created] = []
        self.issued = 0
        self.url = ""
        self._script: deque[Reply] = deque()
        self._released = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._handle)

    @property
    def calls(self) -> int:
        return len(self.requests)

    def then(self, *replies: Reply) -> FakeHubSpot:
        """Queue answers for the next requests, in order."""
        self._script.extend(replies)
        return self

    def release(self) -> None:
        """Let hanging requests finish (at teardown)."""
        self._released.set()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        self.requests.append(Created(request.path, request.headers.get("Authorization"), body))
        reply = self._script.popleft() if self._script else None
        if reply is None:
            return await self._default(request, body)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.hang:
            await self._released.wait()
            return web.Response(status=503)
        if reply.json is not _UNSET:
            return web.json_response(reply.json, status=reply.status, headers=reply.headers)
        return web.Response(
            status=reply.status,
            body=reply.body,
            headers={"Content-Type": reply.content_type, **reply.headers},
        )

    async def _default(self, request: web.Request, body: Any) -> web.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.method != "POST" or request.path != CREATE_PATH:
            return web.json_response({"status": "error", "category": "NOT_FOUND"}, status=404)
        if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            return web.json_response(
                {"status": "error", "category": "INVALID_AUTHENTICATION"}, status=401
            )
        if not isinstance(body, dict) or not isinstance(body.get("email"), str):
            return web.json_response(
                {"status": "error", "category": "VALIDATION_ERROR"}, status=400
            )
        self.issued += 1
        return web.json_response({"token": f"hs-token-{self.issued}"})


@pytest.fixture
async def fake_hubspot(aiohttp_server: AiohttpServer) -> AsyncIterator[FakeHubSpot]:
    fake = FakeHubSpot()
    server = await aiohttp_server(fake.app)
    fake.url = str(server.make_url("/")).rstrip("/")
    yield fake
    fake.release()
    await asyncio.sleep(0)
