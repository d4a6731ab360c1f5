"""A scriptable fake of the two Zendesk APIs: a real ``web.Application`` on a loopback port.

By default it behaves like Zendesk (the paths of both Chat base URLs, the Support user search,
OAuth/Basic auth checks, 404 for unknown visitors). A test changes that by queueing
:class:`Reply` objects with :meth:`FakeZendesk.then`: each request takes the next one (any
path), and when the queue is empty the default behaviour resumes. Every request is recorded
in :attr:`FakeZendesk.requests`, traversal attempts included (the app has one catch-all route).

Fixture: ``fake_zendesk`` (register this module as a pytest plugin).
"""

from __future__ import annotations

import asyncio
import base64
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

CHAT_TOKEN = "fake-chat-oauth-token-0123456789"
SUPPORT_EMAIL = "agent@example.com"
SUPPORT_TOKEN = "fake-support-api-token-0123456789"
LOGIN_USER = "82cd5e0c-c3ff-11e9-b199-c1e5fc81c37f"

_UNSET: Any = object()


@dataclass
class Reply:
    """One scripted answer. ``json`` wins over ``body``; the other fields are special cases."""

    status: int = 200
    json: Any = _UNSET
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    #: seconds to wait before answering
    delay: float = 0.0
    #: never answer (until the test ends)
    hang: bool = False
    #: stream this many bytes of JSON-looking junk without a Content-Length
    stream_bytes: int = 0

    @classmethod
    def html(cls, status: int = 200) -> Reply:
        page = b"<!DOCTYPE html><html><body>Zendesk is down for maintenance</body></html>"
        return cls(status, body=page, content_type="text/html")

    @classmethod
    def redirect(cls, location: str = "/api/v2/chat/agents", status: int = 302) -> Reply:
        return cls(status, body=b"", headers={"Location": location})

    @classmethod
    def retry_after(cls, value: str, status: int = 429) -> Reply:
        return cls(status, json={"error": "too many requests"}, headers={"Retry-After": value})


@dataclass(frozen=True)
class Recorded:
    path: str
    query: dict[str, str]
    authorization: str | None


def seeded_visitors() -> dict[str, dict[str, Any]]:
    return {
        "9855790.xjj3ukxyIhn6j3": {
            "id": "9855790.xjj3ukxyIhn6j3",
            "name": "Player One",
            "email": "player@example.com",
            "phone": "",
            "notes": "VIP",
            "banned": False,
            "created": 1700000000,
            "external_id": LOGIN_USER,
        },
        "9855790.anonymous1": {
            "id": "9855790.anonymous1",
            "name": "Visitor 42",
            "email": None,
            "phone": None,
            "notes": "",
            "banned": False,
            "created": "2024-05-01T12:00:00Z",
            "external_id": "",
        },
    }


def seeded_users() -> list[dict[str, Any]]:
    return [
        {
            "id": 361834961,
            "name": "Player One",
            "email": "player@example.com",
            "external_id": LOGIN_USER,
            "role": "end-user",
            "url": "https://example.zendesk.com/api/v2/users/361834961.json",
        },
        {
            "id": 361834962,
            "name": "Someone Else",
            "email": "else@example.com",
            "external_id": "someone-else",
            "role": "end-user",
        },
    ]


class FakeZendesk:
    def __init__(self) -> None:
        self.visitors = seeded_visitors()
        self.users = seeded_users()
        #: ``Authorization`` values accepted (Bearer for Chat; Bearer or Basic for Support)
        self.accepted = {
            f"Bearer {CHAT_TOKEN}",
            f"Bearer {SUPPORT_TOKEN}",
            "Basic " + base64.b64encode(f"{SUPPORT_EMAIL}/token:{SUPPORT_TOKEN}".encode()).decode(),
        }
        #: a delay for default answers, so that concurrent lookups overlap
        self.delay = 0.0
        self.requests: list[Recorded] = []
        self.url = ""
        self._script: deque[Reply] = deque()
        self._released = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._handle)

    @property
    def calls(self) -> int:
        return len(self.requests)

    @property
    def chat_url(self) -> str:
        return self.url + "/api/v2/chat"

    @property
    def zopim_url(self) -> str:
        return self.url + "/api/v2"

    def then(self, *replies: Reply) -> FakeZendesk:
        """Queue answers for the next requests, in order."""
        self._script.extend(replies)
        return self

    def release(self) -> None:
        """Let hanging requests finish (at teardown)."""
        self._released.set()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            Recorded(
                request.raw_path.split("?")[0],
                dict(request.query),
                request.headers.get("Authorization"),
            )
        )
        reply = self._script.popleft() if self._script else None
        if reply is None:
            return await self._default(request)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.hang:
            await self._released.wait()
            return web.Response(status=503)
        if reply.stream_bytes:
            response = web.StreamResponse(status=reply.status)
            response.content_type = reply.content_type
            await response.prepare(request)
            chunk = b" " * 65536
            sent = 0
            while sent < reply.stream_bytes:
                await response.write(chunk)
                sent += len(chunk)
            await response.write_eof()
            return response
        if reply.json is not _UNSET:
            return web.json_response(reply.json, status=reply.status, headers=reply.headers)
        return web.Response(
            status=reply.status,
            body=reply.body,
            headers={"Content-Type": reply.content_type, **reply.headers},
        )

    async def _default(self, request: web.Request) -> web.StreamResponse:
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.headers.get("Authorization") not in self.accepted:
            return web.json_response({"error": "Unauthorized"}, status=401)
        path = request.path
        for prefix in ("/api/v2/chat/visitors/", "/api/v2/visitors/"):
            if path.startswith(prefix):
                visitor = self.visitors.get(path.removeprefix(prefix))
                if visitor is None:
                    return web.json_response({"error": "Not Found"}, status=404)
                return web.json_response(visitor)
        if path == "/api/v2/users/search":
            wanted = request.query.get("external_id", "").casefold()
            found = [u for u in self.users if str(u.get("external_id", "")).casefold() == wanted]
            return web.json_response({"users": found, "count": len(found), "next_page": None})
        return web.json_response({"error": "InvalidEndpoint"}, status=404)


@pytest.fixture
async def fake_zendesk(aiohttp_server: AiohttpServer) -> AsyncIterator[FakeZendesk]:
    fake = FakeZendesk()
    server = await aiohttp_server(fake.app)
    fake.url = str(server.make_url("/")).rstrip("/")
    yield fake
    fake.release()
    await asyncio.sleep(0)
