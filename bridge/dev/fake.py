"""What every vendor stand-in shares: scripted answers, recorded requests, and ``main``.

A :class:`FakeVendor` is one ``web.Application`` with a catch-all route, so that every request
is recorded (:attr:`FakeVendor.requests`), traversal attempts included. By default it answers
like the vendor (:meth:`FakeVendor.default`, each stand-in's own); :meth:`FakeVendor.then`
queues :class:`Reply` objects that the next requests take in order (whatever their path)
before the default behaviour resumes: an HTML page, a redirect, a ``Retry-After``, a hang, an
oversized streamed body, a delay. :attr:`FakeVendor.standing` answers every request after the
queue until it is cleared (an outage that lasts).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hmac
import json
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

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
    #: never answer (until :meth:`FakeVendor.release`)
    hang: bool = False
    #: stream this many bytes of JSON-looking junk without a Content-Length
    stream_bytes: int = 0

    @classmethod
    def html(cls, status: int = 200) -> Reply:
        page = b"<!DOCTYPE html><html><body>The service is down for maintenance</body></html>"
        return cls(status, body=page, content_type="text/html")

    @classmethod
    def redirect(cls, location: str = "/elsewhere", status: int = 302) -> Reply:
        return cls(status, body=b"", headers={"Location": location})

    @classmethod
    def retry_after(cls, value: str, status: int = 429) -> Reply:
        return cls(status, json={"error": "too many requests"}, headers={"Retry-After": value})


@dataclass(frozen=True)
class Recorded:
    """One request as the stand-in received it."""

    method: str
    #: the raw path, without the query
    path: str
    query: dict[str, str]
    authorization: str | None
    #: the body parsed as JSON; the raw bytes when it is not JSON; None when empty
    body: Any


def bearer_matches(header: str | None, tokens: Iterable[str]) -> bool:
    """``header`` is ``Bearer <one of tokens>`` (compared in constant time)."""
    scheme, _, credential = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return any(hmac.compare_digest(credential.encode(), token.encode()) for token in tokens)


def basic_matches(header: str | None, user: str, password: str) -> bool:
    """``header`` is HTTP Basic ``user:password`` (compared in constant time)."""
    scheme, _, credential = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        pair = base64.b64decode(credential, validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(pair, f"{user}:{password}".encode())


class FakeVendor(ABC):
    """A vendor API on a loopback port: default answers, a script of replies, a record."""

    def __init__(self) -> None:
        #: a delay for default answers, so that concurrent requests overlap
        self.delay = 0.0
        self.requests: list[Recorded] = []
        #: where it is served, without a trailing slash (set by whoever starts it)
        self.url = ""
        #: when set, the answer to every request the queue leaves (an outage that lasts)
        self.standing: Reply | None = None
        self._script: deque[Reply] = deque()
        self._released = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._handle)

    @property
    def calls(self) -> int:
        return len(self.requests)

    def then(self, *replies: Reply) -> FakeVendor:
        """Queue answers for the next requests, in order."""
        self._script.extend(replies)
        return self

    def release(self) -> None:
        """Let the requests hanging now finish (later hangs wait again)."""
        self._released.set()
        self._released = asyncio.Event()

    @abstractmethod
    async def default(self, request: web.Request, recorded: Recorded) -> web.StreamResponse:
        """The vendor's own answer, when nothing is scripted."""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        recorded = Recorded(
            request.method,
            request.raw_path.split("?")[0],
            dict(request.query),
            request.headers.get("Authorization"),
            body,
        )
        self.requests.append(recorded)
        reply = self._script.popleft() if self._script else self.standing
        if reply is None:
            if self.delay:
                await asyncio.sleep(self.delay)
            return await self.default(request, recorded)
        return await self._scripted(request, reply)

    async def _scripted(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.hang:
            await self._released.wait()  # the event of now: release() replaces it
            return web.Response(status=503)
        if reply.stream_bytes:
            response = web.StreamResponse(status=reply.status)
            response.content_type = reply.content_type
            await response.prepare(request)
            chunk, sent = b" " * 65536, 0
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


def parser(prog: str, description: str, port: int) -> argparse.ArgumentParser:
    """The command line of a stand-in's ``main``: ``--port`` (on 127.0.0.1 only)."""
    arguments = argparse.ArgumentParser(prog=prog, description=description + " (127.0.0.1).")
    arguments.add_argument("--port", type=int, default=port)
    return arguments


def serve(app: web.Application, port: int, banner: str) -> None:
    """Print how to configure the gateway for the stand-in, then serve it on 127.0.0.1."""
    print(banner, flush=True)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


def lookup_entry(fake: FakeVendor, type_: str, **config: Any) -> dict[str, Any]:
    """The ``lookups`` entry that points the gateway at ``fake`` (served at ``fake.url``)."""
    return {"type": type_, "base_url": fake.url, **config}


def run(fake: FakeVendor, type_: str, port: int, argv: Sequence[str] | None, **config: Any) -> None:
    """A support-tool stand-in's ``main``: ``--port``, then print its ``lookups`` entry and
    serve it on 127.0.0.1."""
    args = parser(
        f"python -m {type(fake).__module__}", f"A development stand-in for {type_}", port
    ).parse_args(argv)
    fake.url = f"http://127.0.0.1:{args.port}"
    entry = json.dumps(lookup_entry(fake, type_, **config))
    serve(
        fake.app,
        args.port,
        f"dev {type_} stand-in; gateway configuration:\n  lookups: {{{type_}: {entry}}}",
    )
