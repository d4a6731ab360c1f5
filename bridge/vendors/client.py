r"""The resilient JSON client for a vendor API.

:class:`VendorClient` ``GET``\s (or ``POST``\s) JSON with one overall deadline per call,
retries with jittered exponential backoff only for 429/502/503/504 and connection errors,
``Retry-After`` honoured when it fits the deadline, a
:class:`~bridge.vendors.breaker.CircuitBreaker`, no redirects, a body size cap and strict JSON.
Its answers, as errors from :mod:`bridge.errors`::

    NotFound                     404  (plain: the caller decides what a 404 means)
    VendorBadResponse            502  redirect, oversized/non-JSON/malformed body, other status
    ├── VendorAuthFailed         502  the vendor refused *our* API credentials (401/403)
    └── VendorRefusedInput       502  any other 4xx: the vendor refused the data we sent for
                                      one user (HubSpot's 400 for an email it will not take)
    VendorUnavailable            503  429/502/503/504/connection errors after retries
    ├── VendorRateLimited        503  ... when the last one was a 429
    └── CircuitOpen              503  the breaker is open; nothing was called
    VendorTimeout                504  the deadline passed

What counts towards the breaker is what says the vendor (or our account with it) is in
trouble: 5xx, timeouts, connection failures, 401/403 and 429. A 404 and a 2xx say it is well.
Another 4xx is about one user's own data: it says nothing of the vendor's health and never
counts either way, so one user whose input a vendor refuses cannot open the breaker for all.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp
from multidict import CIMultiDictProxy

from bridge.errors import (
    NotFound,
    VendorAuthFailed,
    VendorBadResponse,
    VendorRateLimited,
    VendorRefusedInput,
    VendorTimeout,
    VendorUnavailable,
)
from bridge.metrics import BreakerState, Metrics
from bridge.vendors.breaker import CircuitBreaker, retry_after, vendor_logger

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

#: statuses worth another try (besides connection errors)
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: answers whose body is the result, by method
_OK = {"GET": frozenset({200}), "POST": frozenset({200, 201})}


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    url: str
    params: Mapping[str, str] | None
    data: bytes | None
    #: the body's media type (JSON unless a form is posted)
    content_type: str = "application/json"
    #: this call's ``Authorization`` value, when not the client's own
    authorization: str | None = None

    @property
    def ok(self) -> frozenset[int]:
        return _OK[self.method]


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
        headers: Mapping[str, str] | None = None,
        vendor: str,
        api: str,
    ) -> None:
        self._session = session
        #: sent with every request besides ``Authorization`` (an API version, a tier)
        self._headers = dict(headers or {})
        self._metrics = metrics
        #: the vendor called (``zendesk``, ``hubspot``): metrics' ``vendor`` label, the
        #: logger's name (``bridge.{vendor}``) and the ``source`` of a fetched answer
        self.vendor = vendor
        #: which of the vendor's APIs (``chat``, ``support``): the metrics' ``api`` label
        self.api = api
        self._log = vendor_logger(vendor)
        self.base_url = base_url.rstrip("/")
        self._authorization = authorization
        self.deadline = deadline
        self._max_retries = max_retries
        self._max_body = max_body_bytes
        self.breaker = breaker or CircuitBreaker(
            failures=5, cooldown=15.0, clock=clock, logger=self._log
        )
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
        return await self._call(_Request("GET", self.base_url + path, params, None), deadline_at)

    async def get_json_as(
        self,
        authorization: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        deadline_at: float | None = None,
    ) -> Any:
        """:meth:`get_json` with this call's own ``Authorization`` (a token obtained at run
        time, such as an OAuth client-credentials token)."""
        request = _Request("GET", self.base_url + path, params, None, authorization=authorization)
        return await self._call(request, deadline_at)

    async def post_json(self, path: str, body: Any, *, deadline_at: float | None = None) -> Any:
        """The parsed JSON of a 200 or 201 answer to ``POST {base_url}{path}`` with ``body``
        as JSON. Only for calls that are safe to repeat (they are retried like ``GET``)."""
        request = _Request("POST", self.base_url + path, None, json.dumps(body).encode())
        return await self._call(request, deadline_at)

    async def post_form(
        self, path: str, fields: Mapping[str, str], *, deadline_at: float | None = None
    ) -> Any:
        """:meth:`post_json` with ``fields`` as an ``application/x-www-form-urlencoded`` body
        (an OAuth token request)."""
        data = urlencode(fields).encode()
        request = _Request(
            "POST", self.base_url + path, None, data,
            content_type="application/x-www-form-urlencoded",
        )  # fmt: skip
        return await self._call(request, deadline_at)

    async def _call(self, request: _Request, deadline_at: float | None) -> Any:
        if deadline_at is None:
            deadline_at = self._clock() + self.deadline
        attempt = 0
        while True:
            remaining = deadline_at - self._clock()
            if remaining <= 0:
                raise VendorTimeout(reason="deadline")
            self.breaker.check()
            try:
                return await self._attempt(request, remaining)
            except _Retry as retry:
                attempt += 1
                delay = self._backoff(attempt)
                if retry.retry_after is not None:
                    delay = max(delay, retry.retry_after)
                fits = self._clock() + delay < deadline_at
                if attempt > self._max_retries or not fits:
                    retry.error.retry_after = retry_after(
                        retry.retry_after if retry.retry_after is not None else delay
                    )
                    raise retry.error from None
                self._log.info(
                    "retrying %s in %.2fs (%s)", self.base_url, delay, retry.error.reason
                )
                await self._sleep(delay)

    def _backoff(self, attempt: int) -> float:
        """Exponential, with "equal jitter": between half and all of the step."""
        step: float = min(self._backoff_cap, self._backoff_base * 2.0 ** (attempt - 1))
        return step / 2 + self._jitter() * step / 2

    async def _attempt(self, request: _Request, remaining: float) -> Any:
        outcome: Literal["success", "failure", "none"] = "none"
        try:
            async with asyncio.timeout(remaining) as deadline:
                try:
                    status, headers, body = await self._request(request)
                except TimeoutError:
                    if deadline.expired():
                        raise
                    self._count("timeout")
                    raise _Retry(VendorUnavailable(reason="socket_timeout"), None) from None
            self._count(status)
            result = self._interpret(status, headers, body, ok=status in request.ok)
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
        except VendorRefusedInput:
            raise  # one user's data: no verdict on the vendor's health
        except (VendorBadResponse, NotFound) as exc:
            # a 404 is a healthy answer; our credentials refused, a redirect or a malformed
            # answer are the vendor's (or our account's) trouble, for every user alike
            outcome = "success" if isinstance(exc, NotFound) else "failure"
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
            self._metrics.vendor_answer(self.vendor, self.api, status)

    async def _request(self, request: _Request) -> tuple[int, CIMultiDictProxy[str], bytes | None]:
        headers = {**self._headers, "Accept": "application/json"}
        authorization = request.authorization or self._authorization
        if authorization:
            headers["Authorization"] = authorization
        if request.data is not None:
            headers["Content-Type"] = request.content_type
        async with self._session.request(
            request.method,
            request.url,
            params=request.params,
            data=request.data,
            headers=headers,
            allow_redirects=False,
        ) as response:
            if response.status not in request.ok:
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

    def _interpret(
        self, status: int, headers: CIMultiDictProxy[str], body: bytes | None, *, ok: bool
    ) -> Any:
        if ok:
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
            self._log.error(
                "%s %s refused the API credentials (%s) at %s",
                self.vendor, self.api, status, self.base_url,
            )  # fmt: skip
            raise VendorAuthFailed(reason=f"vendor_{status}")
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
        if 400 <= status < 500:
            raise VendorRefusedInput(reason=f"vendor_{status}")
        raise VendorBadResponse(reason=f"vendor_{status}")


def vendor_breaker(
    *,
    failures: int,
    cooldown: float,
    clock: Clock,
    metrics: Metrics | None,
    vendor: str,
    api: str,
) -> CircuitBreaker:
    """A breaker whose state is the ``vendor``'s ``api``'s breaker metric."""
    on_change = None
    if metrics is not None:
        metrics.breaker_changed(vendor, api, "closed")

        def on_change(state: BreakerState) -> None:
            metrics.breaker_changed(vendor, api, state)

    return CircuitBreaker(
        failures=failures,
        cooldown=cooldown,
        clock=clock,
        on_change=on_change,
        logger=vendor_logger(vendor),
    )
