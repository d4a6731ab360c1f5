"""Prometheus metrics: what the gateway counts, and the ``/metrics`` exposition.

One :class:`Metrics` per application, each with its own ``CollectorRegistry`` (so two apps in
one test process never share counts). The components that count something take an optional
``metrics`` keyword and call the few recording methods below; the request-level counts are
made per request, in batches, by :mod:`bridge.access`.

Several workers (``bridge serve --workers N``) share one port through SO_REUSEPORT, so a
scrape reaches one worker at random. ``bridge serve`` therefore gives every run a fresh
directory in ``PROMETHEUS_MULTIPROC_DIR`` before it starts the workers; prometheus-client then
keeps each worker's values in a small memory-mapped file there, and whichever worker answers
the scrape adds them all up (:class:`~prometheus_client.multiprocess.MultiProcessCollector`).
Request counts are recorded in batches (:mod:`bridge.access`): the worker that answers a
scrape records its own first; the others' reach it within ``log.access_flush_seconds``.
Gauges say how workers combine: Redis is up when every live worker reaches it (``livemin``),
a breaker shows its worst state across live workers (``livemax``).

Series (all prefixed ``bridge_``)::

    http_requests_total{route,method,status}          route = the pattern, never the raw path
    http_request_duration_seconds{route}              histogram
    tokens_minted_total{target}
    token_verification_failures_total{reason}         TokenError.reason (and keys_unavailable)
    cache_lookups_total{kind,result}                  result = hit | miss
    zendesk_requests_total{api,status}                HTTP status, or timeout / connection_error
    zendesk_breaker_state{api}                        0 closed, 1 half-open, 2 open
    redis_up                                          1 reachable, 0 not (absent: no Redis)
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Literal

from aiohttp import hdrs, web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: seconds; the token path answers in well under a millisecond, lookups in up to the deadline
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}

BreakerState = Literal["closed", "open", "half-open"]


def multiprocess_dir() -> str | None:
    """The directory shared by this run's workers, when there are several."""
    return os.environ.get(MULTIPROC_ENV) or None


class Metrics:
    """The gateway's metrics. Recording costs a dict look-up and a lock-protected add."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "bridge_http_requests", "Answered HTTP requests.",
            ["route", "method", "status"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "bridge_http_request_duration_seconds", "Time from request to answer.",
            ["route"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.tokens = Counter(
            "bridge_tokens_minted", "Widget tokens signed.", ["target"], registry=r
        )
        self.verify_failures = Counter(
            "bridge_token_verification_failures",
            "Login tokens refused, by reason.",
            ["reason"],
            registry=r,
        )
        self.logins = Counter(
            "bridge_login_verified",
            "Requests whose login token was verified, by login system (its configured name).",
            ["login"],
            registry=r,
        )
        self.cache = Counter(
            "bridge_cache_lookups", "Lookup cache reads.", ["kind", "result"], registry=r
        )
        self.zendesk = Counter(
            "bridge_zendesk_requests", "Calls to Zendesk APIs, by answer.", ["api", "status"],
            registry=r,
        )  # fmt: skip
        self.breaker = Gauge(
            "bridge_zendesk_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open.",
            ["api"], registry=r, multiprocess_mode="livemax",
        )  # fmt: skip
        self.rate_limits = Counter(
            "bridge_rate_limit_events",
            "Rate limits: requests refused (limited) or let through with Redis down (fail_open).",
            ["limit", "outcome"],
            registry=r,
        )
        #: made at the first report, so that a gateway without Redis has no such series
        self.redis_up: Gauge | None = None
        # children cached by label values: no label-dict building per call
        self._latency_children: dict[str, Histogram] = {}
        self._cache_children: dict[tuple[str, bool], Counter] = {}

    # --- per request, in batches (bridge.access) -------------------------------------------

    def record_requests(
        self,
        requests: Mapping[tuple[str, str, int], int],
        durations: Mapping[str, Sequence[float]],
        minted: Mapping[str, int],
        failures: Mapping[str, int],
        logins: Mapping[str, int] | None = None,
    ) -> None:
        """A batch of answered requests, counted: one add per series, not one per request.

        ``requests`` counts by (route, method, status), ``durations`` lists the seconds per
        route, ``minted`` counts by target, ``failures`` by refusal reason, ``logins`` by the
        login system that verified the request.
        """
        for (route, method, status), count in requests.items():
            self.requests.labels(route, method, str(status)).inc(count)
        for route, seconds in durations.items():
            child = self._latency_children.get(route)
            if child is None:
                child = self._latency_children[route] = self.latency.labels(route)
            observe = child.observe
            for value in seconds:
                observe(value)
        for target, count in minted.items():
            self.tokens.labels(target).inc(count)
        for reason, count in failures.items():
            self.verify_failures.labels(reason).inc(count)
        for login, count in (logins or {}).items():
            self.logins.labels(login).inc(count)

    # --- from the components -------------------------------------------------------------

    def cache_lookup(self, kind: str, *, hit: bool) -> None:
        key = (kind, hit)
        child = self._cache_children.get(key)
        if child is None:
            child = self._cache_children[key] = self.cache.labels(kind, "hit" if hit else "miss")
        child.inc()

    def rate_limit_event(self, limit: str, outcome: Literal["limited", "fail_open"]) -> None:
        self.rate_limits.labels(limit, outcome).inc()

    def zendesk_answer(self, api: str, status: int | str) -> None:
        self.zendesk.labels(api, str(status)).inc()

    def breaker_changed(self, api: str, state: BreakerState) -> None:
        self.breaker.labels(api).set(BREAKER_STATES[state])

    def redis_available(self, up: bool) -> None:
        if self.redis_up is None:
            self.redis_up = Gauge(
                "bridge_redis_up", "1 when the configured Redis answers, else 0.",
                registry=self.registry, multiprocess_mode="livemin",
            )  # fmt: skip
        self.redis_up.set(1 if up else 0)

    # --- exposition ----------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The text format: every worker's values when several share the port."""
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


def metrics_handler(
    metrics: Metrics, *, before: Callable[[], None] | None = None
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The exposition handler; ``before`` runs first (to record what is still pending)."""

    async def handle(request: web.Request) -> web.Response:
        if before is not None:
            before()
        response = web.Response(body=metrics.exposition())
        response.headers[hdrs.CONTENT_TYPE] = CONTENT_TYPE_LATEST
        return response

    return handle


def metrics_server(
    metrics: Metrics,
    *,
    host: str,
    port: int,
    path: str,
    before: Callable[[], None] | None = None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` serving only the metrics on their own port (like oauth2-proxy's
    ``--metrics-address``), so the public port need not expose them. With several workers
    each binds the port with SO_REUSEPORT; any of them answers for all."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        metrics_app = web.Application()
        metrics_app.router.add_get(path, metrics_handler(metrics, before=before))
        runner = web.AppRunner(metrics_app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_port=multiprocess_dir() is not None or None)
        await site.start()
        try:
            yield
        finally:
            await runner.cleanup()

    return ctx
