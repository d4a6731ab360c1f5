"""Zendesk lookups for support staff: which login user is this Chat visitor / Support user?

Three layers, each aiohttp-app-free and taking its collaborators (HTTP session, cache, clock)
through its constructor:

* :class:`VendorClient` -- one resilient JSON ``GET`` client, used twice (Chat API, Support
  API): one overall deadline per call, retries with jittered exponential backoff only for
  429/502/503/504 and connection errors, ``Retry-After`` honoured when it fits the deadline,
  a :class:`CircuitBreaker`, no redirects, a body size cap, strict JSON.
* :class:`SingleFlight` -- the cache in front of it: versioned JSON entries (a value the
  parser rejects is a miss), positive and negative TTLs, one vendor call per id per process
  (shared tasks) and, with Redis, per fleet (a short lock others wait on by polling).
* :class:`VisitorLookup` and :class:`LoginUserLookup` -- validate the id, build the vendor
  path, parse the answer strictly, decide the verdict.

Errors (all from :mod:`bridge.errors`, translated to HTTP by the error middleware)::

    InvalidIdentifier            400  malformed id; nothing was called
    VisitorNotFound (NotFound)   404  Zendesk says no such visitor (cached briefly)
    VendorBadResponse            502  redirect, oversized/non-JSON/malformed body, other status
    └── ZendeskAuthFailed        502  Zendesk refused *our* API credentials (401/403)
    VendorUnavailable            503  429/502/503/504/connection errors after retries
    ├── VendorRateLimited        503  ... when the last one was a 429
    └── CircuitOpen              503  the breaker is open; nothing was called
    VendorTimeout                504  the deadline passed
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import logging
import math
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

import aiohttp
import orjson
from multidict import CIMultiDictProxy

from bridge.cache import Cache
from bridge.errors import (
    InvalidIdentifier,
    NotFound,
    VendorBadResponse,
    VendorTimeout,
    VendorUnavailable,
)
from bridge.metrics import BreakerState, Metrics
from bridge.settings import ZendeskChatApiSettings, ZendeskSupportApiSettings

log = logging.getLogger("bridge.visitors")

T = TypeVar("T")
Source = Literal["cache", "zendesk"]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

#: statuses worth another try (besides connection errors)
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: the longest ``Retry-After`` we pass on to our own callers (seconds)
MAX_RETRY_AFTER = 300
#: a Chat visitor id, e.g. ``9855790.xjj3ukxyIhn6j3``; ``..`` is refused separately
VISITOR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: a login user id (Xsolla: a UUID); Zendesk's ``external_id`` is at most 255 characters
LOGIN_USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,254}$")


# --- errors ------------------------------------------------------------------------------


class ZendeskAuthFailed(VendorBadResponse):
    code = "vendor_auth_failed"
    description = "Zendesk refused the gateway's API credentials"


class VendorRateLimited(VendorUnavailable):
    code = "vendor_rate_limited"
    description = "Zendesk is rate limiting the gateway"


class CircuitOpen(VendorUnavailable):
    code = "vendor_circuit_open"
    description = "Zendesk is failing; the gateway is not calling it for a while"


class VisitorNotFound(NotFound):
    code = "visitor_not_found"
    description = "No such visitor"

    def __init__(self, *, source: Source) -> None:
        super().__init__(reason=f"not_found_{source}")
        #: where the answer came from, for the audit log
        self.source = source


def _retry_after(seconds: float) -> int:
    return max(1, min(MAX_RETRY_AFTER, math.ceil(seconds)))


# --- circuit breaker ---------------------------------------------------------------------


class CircuitBreaker:
    """Closed -> (``failures`` consecutive failures) -> open for ``cooldown`` seconds ->
    half-open: one trial call; its success closes the breaker, its failure reopens it."""

    def __init__(
        self,
        *,
        failures: int,
        cooldown: float,
        clock: Clock = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        self._threshold = failures
        self._cooldown = cooldown
        self._clock = clock
        #: told each new state (for the breaker gauge); half-open is reported when a trial starts
        self._on_change = on_change
        self._failures = 0
        self._open_until: float | None = None
        self._trial = False

    @property
    def state(self) -> Literal["closed", "open", "half-open"]:
        if self._open_until is None:
            return "closed"
        return "open" if self._clock() < self._open_until else "half-open"

    def check(self) -> None:
        """Raise :class:`CircuitOpen` unless a call may go out now."""
        if self._open_until is None:
            return
        now = self._clock()
        if now < self._open_until or self._trial:
            raise CircuitOpen(retry_after=_retry_after(self._open_until - now))
        self._trial = True
        self._changed("half-open")

    def success(self) -> None:
        was_open = self._open_until is not None
        self._failures = 0
        self._open_until = None
        self._trial = False
        if was_open:
            self._changed("closed")

    def failure(self) -> None:
        self._failures += 1
        if self._trial or self._failures >= self._threshold:
            if self._open_until is None or not self._trial:
                log.warning("circuit breaker open for %.0fs", self._cooldown)
            self._open_until = self._clock() + self._cooldown
            self._changed("open")
        self._trial = False

    def _changed(self, state: BreakerState) -> None:
        if self._on_change is not None:
            self._on_change(state)

    def abandon(self) -> None:
        """The call ended without a verdict (cancelled): let another trial through."""
        self._trial = False


# --- the resilient client ----------------------------------------------------------------


class _Retry(Exception):
    """One attempt failed in a way worth retrying; ``error`` is what to raise if not."""

    def __init__(self, error: VendorUnavailable, retry_after: float | None) -> None:
        self.error = error
        self.retry_after = retry_after


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or an HTTP date), or None."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)


class VendorClient:
    """``GET`` JSON from one vendor API with a deadline, retries, a breaker and size caps.

    ``authorization`` is the whole ``Authorization`` header value; it is sent on every
    request and appears nowhere else (not in ``repr``, logs or errors).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        authorization: str,
        deadline: float = 4.0,
        max_retries: int = 2,
        max_body_bytes: int = 256 * 1024,
        breaker: CircuitBreaker | None = None,
        backoff_base: float = 0.1,
        backoff_cap: float = 2.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        metrics: Metrics | None = None,
        api: str = "zendesk",
    ) -> None:
        self._session = session
        self._metrics = metrics
        #: the ``api`` label of this client's metrics (``chat``, ``support``)
        self.api = api
        self.base_url = base_url.rstrip("/")
        self._authorization = authorization
        self.deadline = deadline
        self._max_retries = max_retries
        self._max_body = max_body_bytes
        self.breaker = breaker or CircuitBreaker(failures=5, cooldown=15.0, clock=clock)
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter

    def __repr__(self) -> str:
        return f"VendorClient({self.base_url!r})"

    async def get_json(
        self,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        deadline_at: float | None = None,
    ) -> Any:
        """The parsed JSON of a 200 answer to ``GET {base_url}{path}``.

        ``path`` must already be quoted. A 404 raises :class:`NotFound` (plain, for the
        caller to interpret); everything else as in the module docstring.
        """
        if deadline_at is None:
            deadline_at = self._clock() + self.deadline
        url = self.base_url + path
        attempt = 0
        while True:
            remaining = deadline_at - self._clock()
            if remaining <= 0:
                raise VendorTimeout(reason="deadline")
            self.breaker.check()
            try:
                return await self._attempt(url, params, remaining)
            except _Retry as retry:
                attempt += 1
                delay = self._backoff(attempt)
                if retry.retry_after is not None:
                    delay = max(delay, retry.retry_after)
                fits = self._clock() + delay < deadline_at
                if attempt > self._max_retries or not fits:
                    retry.error.retry_after = _retry_after(
                        retry.retry_after if retry.retry_after is not None else delay
                    )
                    raise retry.error from None
                log.info("retrying %s in %.2fs (%s)", self.base_url, delay, retry.error.reason)
                await self._sleep(delay)

    def _backoff(self, attempt: int) -> float:
        """Exponential, with "equal jitter": between half and all of the step."""
        step: float = min(self._backoff_cap, self._backoff_base * 2.0 ** (attempt - 1))
        return step / 2 + self._jitter() * step / 2

    async def _attempt(self, url: str, params: Mapping[str, str] | None, remaining: float) -> Any:
        outcome: Literal["success", "failure", "none"] = "none"
        try:
            async with asyncio.timeout(remaining) as deadline:
                try:
                    status, headers, body = await self._request(url, params)
                except TimeoutError:
                    if deadline.expired():
                        raise
                    self._count("timeout")
                    raise _Retry(VendorUnavailable(reason="socket_timeout"), None) from None
            self._count(status)
            result = self._interpret(status, headers, body)
        except TimeoutError:
            outcome = "failure"
            self._count("timeout")
            raise VendorTimeout(reason="deadline") from None
        except _Retry:
            outcome = "failure"
            raise
        except (aiohttp.ClientSSLError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError):
            outcome = "failure"
            self._count("protocol_error")
            raise VendorBadResponse(reason="protocol_error") from None
        except aiohttp.ClientConnectionError:
            outcome = "failure"
            self._count("connection_error")
            raise _Retry(VendorUnavailable(reason="connection_error"), None) from None
        except (VendorBadResponse, NotFound) as exc:
            # a 404 or our own credentials refused: Zendesk is answering, so it is healthy
            healthy = isinstance(exc, (NotFound, ZendeskAuthFailed))
            outcome = "success" if healthy else "failure"
            raise
        else:
            outcome = "success"
            return result
        finally:
            if outcome == "success":
                self.breaker.success()
            elif outcome == "failure":
                self.breaker.failure()
            else:
                self.breaker.abandon()

    def _count(self, status: int | str) -> None:
        if self._metrics is not None:
            self._metrics.zendesk_answer(self.api, status)

    async def _request(
        self, url: str, params: Mapping[str, str] | None
    ) -> tuple[int, CIMultiDictProxy[str], bytes | None]:
        headers = {"Authorization": self._authorization, "Accept": "application/json"}
        async with self._session.get(
            url, params=params, headers=headers, allow_redirects=False
        ) as response:
            if response.status != 200:
                return response.status, response.headers, None
            if response.content_length is not None and response.content_length > self._max_body:
                raise VendorBadResponse(reason="body_too_large")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > self._max_body:
                    raise VendorBadResponse(reason="body_too_large")
                chunks.append(chunk)
            return response.status, response.headers, b"".join(chunks)

    def _interpret(self, status: int, headers: CIMultiDictProxy[str], body: bytes | None) -> Any:
        if status == 200:
            assert body is not None
            content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
            if content_type != "application/json" and not content_type.endswith("+json"):
                raise VendorBadResponse(reason="not_json")
            try:
                return json.loads(body)
            except (UnicodeDecodeError, ValueError):
                raise VendorBadResponse(reason="not_json") from None
        if status == 404:
            raise NotFound(reason="vendor_404")
        if status in (401, 403):
            log.error("Zendesk refused the API credentials (%s) at %s", status, self.base_url)
            raise ZendeskAuthFailed(reason=f"vendor_{status}")
        if status in RETRY_STATUSES:
            error: VendorUnavailable = (
                VendorRateLimited(reason="vendor_429")
                if status == 429
                else VendorUnavailable(reason=f"vendor_{status}")
            )
            retry_after = parse_retry_after(headers.get("Retry-After"))
            raise _Retry(error, retry_after)
        if 300 <= status < 400:
            raise VendorBadResponse(reason="redirect")
        raise VendorBadResponse(reason=f"vendor_{status}")


def _breaker(
    settings: ZendeskChatApiSettings | ZendeskSupportApiSettings,
    clock: Clock,
    metrics: Metrics | None,
    api: str,
) -> CircuitBreaker:
    on_change = None
    if metrics is not None:
        metrics.breaker_changed(api, "closed")

        def on_change(state: BreakerState) -> None:
            metrics.breaker_changed(api, state)

    return CircuitBreaker(
        failures=settings.breaker_failures,
        cooldown=settings.breaker_cooldown,
        clock=clock,
        on_change=on_change,
    )


def chat_client(
    session: aiohttp.ClientSession,
    settings: ZendeskChatApiSettings,
    *,
    clock: Clock = time.monotonic,
    metrics: Metrics | None = None,
    **knobs: Any,
) -> VendorClient:
    """The Chat REST API client: OAuth Bearer (the only auth that API takes)."""
    return VendorClient(
        session,
        base_url=settings.base_url,
        authorization="Bearer " + settings.token.secret.reveal().decode(),
        deadline=settings.deadline,
        max_retries=settings.max_retries,
        max_body_bytes=settings.max_body_bytes,
        breaker=_breaker(settings, clock, metrics, "chat"),
        clock=clock,
        metrics=metrics,
        api="chat",
        **knobs,
    )


def support_client(
    session: aiohttp.ClientSession,
    settings: ZendeskSupportApiSettings,
    *,
    clock: Clock = time.monotonic,
    metrics: Metrics | None = None,
    **knobs: Any,
) -> VendorClient:
    """The Support API client: ``{email}/token:{token}`` Basic when ``email`` is set, else
    OAuth Bearer. ``base_url`` is ``https://{subdomain}.zendesk.com`` (a trailing ``/api/v2``
    is tolerated)."""
    token = settings.token.secret.reveal().decode()
    if settings.email:
        pair = f"{settings.email}/token:{token}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode("ascii")
    else:
        authorization = "Bearer " + token
    base_url = settings.base_url.rstrip("/").removesuffix("/api/v2")
    return VendorClient(
        session,
        base_url=base_url,
        authorization=authorization,
        deadline=settings.deadline,
        max_retries=settings.max_retries,
        max_body_bytes=settings.max_body_bytes,
        breaker=_breaker(settings, clock, metrics, "support"),
        clock=clock,
        metrics=metrics,
        api="support",
        **knobs,
    )


# --- the cache in front: single flight ---------------------------------------------------


_MISS: Any = object()


@dataclass(frozen=True)
class Found(Generic[T]):
    #: None: the vendor said "no such thing" (a negative entry)
    value: T | None
    source: Source


#: decoded cache entries kept per lookup kind (the same bytes decode to the same value)
DECODED_ENTRIES = 4096


class SingleFlight(Generic[T]):
    """Cache-aside for one kind of lookup, with one vendor call per id at a time.

    Entries are ``{"v": 1, "found": bool, "value": encode(value)}``; ``decode`` must raise
    ``ValueError``/``TypeError``/``KeyError`` on anything it does not accept, which makes the
    entry a miss. Vendor errors are never cached.
    """

    def __init__(
        self,
        cache: Cache,
        *,
        kind: str,
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
        ttl: Callable[[T], float],
        negative_ttl: float,
        lock_ttl: float,
        poll_interval: float = 0.02,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        metrics: Metrics | None = None,
    ) -> None:
        self._cache = cache
        self._metrics = metrics
        self._kind = kind
        self._encode = encode
        self._decode = decode
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._lock_ttl = lock_ttl
        self._poll = poll_interval
        self._clock = clock
        self._sleep = sleep
        self._inflight: dict[str, asyncio.Task[Found[T]]] = {}
        #: cache entries already decoded, by their exact bytes (values are immutable)
        self._decoded: dict[bytes, T | None] = {}

    async def get(
        self, ident: str, fetch: Callable[[float], Awaitable[T | None]], deadline_at: float
    ) -> Found[T]:
        """The cached answer for ``ident``, else ``fetch(deadline_at)``'s, shared with every
        concurrent caller for the same id. A caller's cancellation does not cancel the flight.

        A hit is read by the caller itself: no task, no extra turn of the event loop (the
        common case, and the one measured in ``tests/benchmarks``). A miss starts a flight, or
        joins the one already under way.
        """
        task = self._inflight.get(ident)
        if task is None:
            key = self._cache.key(self._kind, ident)
            cache = self._cache
            # an in-process cache is read without awaiting (a coroutine less per hit)
            hit = self._decoded_entry(cache.peek(key)) if cache.local else await self._read(key)
            if hit is not _MISS:
                self._count(hit=True)
                return Found(hit, "cache")
            task = self._inflight.get(ident)  # one may have started while we read
            if task is None:
                self._count(hit=False)
                task = asyncio.create_task(self._flight(ident, fetch, deadline_at, key=key))
                self._inflight[ident] = task
                task.add_done_callback(lambda done: self._landed(ident, done))
        return await asyncio.shield(task)

    def _count(self, *, hit: bool) -> None:
        if self._metrics is not None:
            self._metrics.cache_lookup(self._kind, hit=hit)

    def _landed(self, ident: str, task: asyncio.Task[Found[T]]) -> None:
        if self._inflight.get(ident) is task:
            del self._inflight[ident]
        if not task.cancelled():
            task.exception()  # retrieved: its callers may all have gone

    async def close(self) -> None:
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _read(self, key: str) -> Any:
        return self._decoded_entry(await self._cache.get(key))

    def _decoded_entry(self, raw: bytes | None) -> Any:
        if raw is None:
            return _MISS
        decoded = self._decoded.get(raw, _MISS)
        if decoded is not _MISS:
            return decoded
        decoded = self._parse(raw)
        if decoded is not _MISS:
            if len(self._decoded) >= DECODED_ENTRIES:
                self._decoded.clear()  # bounded; refilled by the hits that follow
            self._decoded[raw] = decoded
        return decoded

    def _parse(self, raw: bytes) -> Any:
        try:
            entry = orjson.loads(raw)
            if not isinstance(entry, dict) or entry.get("v") != 1:
                raise ValueError("unknown entry")
            found = entry["found"]
            if found is False:
                return None
            if found is not True:
                raise ValueError("bad found flag")
            return self._decode(entry["value"])
        except (ValueError, TypeError, KeyError, VendorBadResponse):
            log.warning("ignoring a corrupt %s cache entry", self._kind)
            return _MISS

    async def _write(self, key: str, value: T | None) -> None:
        if value is None:
            entry: dict[str, Any] = {"v": 1, "found": False}
            ttl = self._negative_ttl
        else:
            entry = {"v": 1, "found": True, "value": self._encode(value)}
            ttl = self._ttl(value)
        await self._cache.set(key, json.dumps(entry, separators=(",", ":")).encode(), ttl)

    async def _flight(
        self,
        ident: str,
        fetch: Callable[[float], Awaitable[T | None]],
        deadline_at: float,
        *,
        key: str,
    ) -> Found[T]:
        """After a miss: take the lock, ask the vendor, fill the cache (or wait for whoever
        holds the lock to fill it)."""
        lock_key = self._cache.lock_key(self._kind, ident)
        while True:
            lock = await self._cache.acquire(lock_key, self._lock_ttl)
            if lock is not None:
                try:
                    if lock.token is not None:
                        # another process may have finished between our read and our lock
                        hit = await self._read(key)
                        if hit is not _MISS:
                            return Found(hit, "cache")
                    value = await fetch(deadline_at)
                    await self._write(key, value)
                    return Found(value, "zendesk")
                finally:
                    await self._cache.release(lock)
            # another process is asking the vendor: wait for its answer to land in the cache
            if self._clock() + self._poll >= deadline_at:
                raise VendorTimeout(reason="lock_wait")
            await self._sleep(self._poll)
            hit = await self._read(key)
            if hit is not _MISS:
                return Found(hit, "cache")


# --- visitors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Visitor:
    id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    notes: str | None = None
    banned: bool | None = None
    #: as Zendesk gave it: epoch seconds (a number) or an ISO 8601 string
    created: int | float | str | None = None
    external_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "notes": self.notes,
            "banned": self.banned,
            "created": self.created,
            "external_id": self.external_id,
        }


@dataclass(frozen=True)
class VisitorVerdict:
    visitor: Visitor
    source: Source

    @property
    def linked(self) -> bool:
        return bool(self.visitor.external_id)

    @property
    def login_user_id(self) -> str | None:
        return self.visitor.external_id or None

    def as_json(self) -> dict[str, Any]:
        return {
            "visitor": self.visitor.as_json(),
            "linked": self.linked,
            "login_user_id": self.login_user_id,
            "source": self.source,
        }


def _malformed(what: str) -> VendorBadResponse:
    return VendorBadResponse(reason=f"malformed_{what}")


def _optional_str(data: Mapping[str, Any], field: str) -> str | None:
    value = data.get(field)
    if value is None or isinstance(value, str):
        return value
    raise _malformed(field)


def _id_string(value: Any, field: str = "id") -> str:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise _malformed(field)


def _created(value: Any) -> int | float | str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise _malformed("created")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _malformed("created")
        return value
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise _malformed("created") from None
        return value
    raise _malformed("created")


def parse_visitor(data: Any, requested_id: str | None = None) -> Visitor:
    """A :class:`Visitor` from the Chat API's visitor object; VendorBadResponse if malformed."""
    if not isinstance(data, dict):
        raise _malformed("visitor")
    raw_id = data.get("id")
    if raw_id is None and requested_id is not None:
        raw_id = requested_id
    banned = data.get("banned")
    if banned is not None and not isinstance(banned, bool):
        raise _malformed("banned")
    return Visitor(
        id=_id_string(raw_id),
        name=_optional_str(data, "name"),
        email=_optional_str(data, "email"),
        phone=_optional_str(data, "phone"),
        notes=_optional_str(data, "notes"),
        banned=banned,
        created=_created(data.get("created")),
        external_id=_optional_str(data, "external_id"),
    )


def validate_visitor_id(visitor_id: str) -> str:
    if not VISITOR_ID.fullmatch(visitor_id) or ".." in visitor_id:
        raise InvalidIdentifier("Malformed visitor id", reason="invalid_visitor_id")
    return visitor_id


class _CachedLookup(Generic[T]):
    """One vendor API behind the cache: per-lookup deadline, single-flight, close once."""

    def __init__(
        self,
        client: VendorClient,
        cache: Cache,
        *,
        kind: str,
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
        ttl: Callable[[T], float],
        negative_ttl: float,
        clock: Clock,
        sleep: Sleep,
        metrics: Metrics | None,
    ) -> None:
        self._client = client
        self._clock = clock
        self._flights: SingleFlight[T] = SingleFlight(
            cache,
            kind=kind,
            encode=encode,
            decode=decode,
            ttl=ttl,
            negative_ttl=negative_ttl,
            lock_ttl=client.deadline + 1.0,
            clock=clock,
            sleep=sleep,
            metrics=metrics,
        )

    def _get(
        self, ident: str, fetch: Callable[[float], Awaitable[T | None]]
    ) -> Awaitable[Found[T]]:
        return self._flights.get(ident, fetch, self._clock() + self._client.deadline)

    async def close(self) -> None:
        await self._flights.close()


class VisitorLookup(_CachedLookup[Visitor]):
    """``GET {chat base}/visitors/{id}`` behind the cache; see the module docstring."""

    def __init__(
        self,
        client: VendorClient,
        cache: Cache,
        *,
        ttl: float = 300,
        negative_ttl: float = 30,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(
            client,
            cache,
            kind="visitor",
            encode=Visitor.as_json,
            decode=parse_visitor,
            ttl=lambda _visitor: ttl,
            negative_ttl=negative_ttl,
            clock=clock,
            sleep=sleep,
            metrics=metrics,
        )

    async def lookup(self, visitor_id: str) -> VisitorVerdict:
        visitor_id = validate_visitor_id(visitor_id)
        found = await self._get(visitor_id, self._fetcher(visitor_id))
        if found.value is None:
            raise VisitorNotFound(source=found.source)
        return VisitorVerdict(found.value, found.source)

    def _fetcher(self, visitor_id: str) -> Callable[[float], Awaitable[Visitor | None]]:
        async def fetch(deadline_at: float) -> Visitor | None:
            try:
                data = await self._client.get_json(
                    "/visitors/" + quote(visitor_id, safe=""), deadline_at=deadline_at
                )
            except NotFound:
                return None
            return parse_visitor(data, visitor_id)

        return fetch


# --- Support users (Messaging linkage) ------------------------------------------------------


@dataclass(frozen=True)
class ZendeskUser:
    #: Support user ids are integers in Zendesk; given as strings, like visitor ids
    id: str
    name: str | None = None
    email: str | None = None
    external_id: str | None = None
    role: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "external_id": self.external_id,
            "role": self.role,
        }


@dataclass(frozen=True)
class LoginUserLinkage:
    login_user_id: str
    users: tuple[ZendeskUser, ...]
    source: Source

    @property
    def linked(self) -> bool:
        return bool(self.users)

    def as_json(self) -> dict[str, Any]:
        return {
            "login_user_id": self.login_user_id,
            "users": [user.as_json() for user in self.users],
            "linked": self.linked,
            "source": self.source,
        }


def parse_user(data: Any) -> ZendeskUser:
    if not isinstance(data, dict):
        raise _malformed("user")
    return ZendeskUser(
        id=_id_string(data.get("id")),
        name=_optional_str(data, "name"),
        email=_optional_str(data, "email"),
        external_id=_optional_str(data, "external_id"),
        role=_optional_str(data, "role"),
    )


def parse_users(data: Any) -> tuple[ZendeskUser, ...]:
    """The users of a cache entry (a JSON list) or of a search answer (``{"users": [...]}``)."""
    if isinstance(data, dict):
        data = data.get("users")
    if not isinstance(data, list):
        raise _malformed("users")
    return tuple(parse_user(item) for item in data)


def validate_login_user_id(login_user_id: str) -> str:
    if not LOGIN_USER_ID.fullmatch(login_user_id) or ".." in login_user_id:
        raise InvalidIdentifier("Malformed login user id", reason="invalid_login_user_id")
    return login_user_id


class LoginUserLookup(_CachedLookup[tuple[ZendeskUser, ...]]):
    """Which Zendesk Support users carry this login user id as ``external_id``?

    ``GET {support base}/api/v2/users/search?external_id=...``. Zendesk matches
    case-insensitively; answers whose ``external_id`` does not match at all are dropped, so
    an API that ignored the filter cannot make unrelated users look linked. A non-empty
    answer is cached for ``ttl``, an empty one (not linked yet) for ``negative_ttl``.
    """

    def __init__(
        self,
        client: VendorClient,
        cache: Cache,
        *,
        ttl: float = 300,
        negative_ttl: float = 30,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(
            client,
            cache,
            kind="login_user",
            encode=lambda users: [user.as_json() for user in users],
            decode=parse_users,
            ttl=lambda users: ttl if users else negative_ttl,
            negative_ttl=negative_ttl,
            clock=clock,
            sleep=sleep,
            metrics=metrics,
        )

    async def lookup(self, login_user_id: str) -> LoginUserLinkage:
        login_user_id = validate_login_user_id(login_user_id)
        found = await self._get(login_user_id, self._fetcher(login_user_id))
        return LoginUserLinkage(login_user_id, found.value or (), found.source)

    def _fetcher(
        self, login_user_id: str
    ) -> Callable[[float], Awaitable[tuple[ZendeskUser, ...] | None]]:
        wanted = login_user_id.casefold()

        async def fetch(deadline_at: float) -> tuple[ZendeskUser, ...]:
            try:
                data = await self._client.get_json(
                    "/api/v2/users/search",
                    params={"external_id": login_user_id},
                    deadline_at=deadline_at,
                )
            except NotFound:
                # the search endpoint itself is missing: a wrong base_url, not "no users"
                raise VendorBadResponse(reason="search_404") from None
            users = parse_users(data)
            return tuple(u for u in users if (u.external_id or "").casefold() == wanted)

        return fetch
