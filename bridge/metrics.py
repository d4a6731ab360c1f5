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

The request-duration histogram is the one series kept outside prometheus-client's values
(:class:`Durations`): prometheus-client can only add one observation at a time, which across
workers means two writes to a shared file and two ``getpid`` system calls per request. Each
worker counts a batch's durations into its own buckets in memory, writes them to a small file
of its own in the same directory when its batch timer fires (``durations-<pid>.json``), and
the scrape adds those files up beside prometheus-client's own. The exposition is prometheus-
client's ``HistogramMetricFamily``: the same series, buckets and ``le`` labels as before.

Series (all prefixed ``bridge_``)::

    http_requests_total{route,method,status}          route = the pattern, never the raw path
    http_request_duration_seconds{route}              histogram
    tokens_minted_total{target}
    token_verification_failures_total{reason}         TokenError.reason (and keys_unavailable)
    cache_lookups_total{kind,result}                  result = hit | miss
    vendor_requests_total{vendor,api,status}          HTTP status, or timeout / connection_error
    vendor_breaker_state{vendor,api}                  0 closed, 1 half-open, 2 open
    zendesk_requests_total{api,status}                deprecated: vendor_requests_total's values,
    zendesk_breaker_state{api}                        ... api = the vendor unless it is Zendesk
    redis_up                                          1 reachable, 0 not (absent: no Redis)
    login_keys_fetches_total{login,result}            result = ok | failed
    worker_restarts_total                             counted by the supervisor (bridge serve)
"""

from __future__ import annotations

import contextlib
import os
from bisect import bisect_left
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from pathlib import Path
from typing import Literal

import orjson
from aiohttp import hdrs, web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: seconds; the token path answers in well under a millisecond, lookups in up to the deadline
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: seconds; a lookup answers from the cache at once or from the vendor within its deadline
LOOKUP_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}

BreakerState = Literal["closed", "open", "half-open"]


DURATIONS_NAME = "bridge_http_request_duration_seconds"
DURATIONS_HELP = "Time from request to answer."
#: each worker's durations in the shared directory (prometheus-client reads only ``*.db``)
DURATIONS_FILE = "durations-{pid}.json"
#: the supervisor's count of the workers it restarted, in the same directory
RESTARTS_FILE = "worker-restarts.json"
RESTARTS_NAME = "bridge_worker_restarts"


def multiprocess_dir() -> str | None:
    """The directory shared by this run's workers, when there are several."""
    return os.environ.get(MULTIPROC_ENV) or None


#: per route: the count in each bucket (``le`` each bound, then +Inf), then the sum of seconds
Rows = dict[str, list[float]]


class Durations:
    """``bridge_http_request_duration_seconds{route}``: a histogram counted in batches.

    :meth:`observe_many` adds a batch of one route's durations to this process's buckets (a
    ``bisect`` each); :meth:`collect` makes the exposition, of this process alone or, given a
    multiprocess directory, of every worker's last :meth:`publish`.
    """

    def __init__(
        self, buckets: Sequence[float] = LATENCY_BUCKETS, *, pid: int | None = None
    ) -> None:
        self._bounds = tuple(buckets)
        self._rows: Rows = {}
        #: names this process's file in a multiprocess directory
        self._pid = os.getpid() if pid is None else pid

    def observe_many(self, route: str, seconds: Iterable[float]) -> None:
        row = self._rows.get(route)
        if row is None:
            row = self._rows[route] = [0] * (len(self._bounds) + 2)
        bounds, total = self._bounds, 0.0
        for value in seconds:
            row[bisect_left(bounds, value)] += 1  # the first bound >= value: its "le" bucket
            total += value
        row[-1] += total

    def publish(self, directory: str) -> None:
        """Write this process's counts for the other workers' scrapes (replaced at once)."""
        path = Path(directory, DURATIONS_FILE.format(pid=self._pid))
        scratch = path.with_suffix(".tmp")
        try:
            scratch.write_bytes(orjson.dumps(self._rows))
            scratch.replace(path)
        except OSError:  # the run's directory is gone (shutting down): nothing to share
            pass

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(DURATIONS_NAME, DURATIONS_HELP, labels=["route"])

    def collect(self, directory: str | None = None) -> Iterator[Metric]:
        rows = self._rows if directory is None else self._read_all(directory)
        family = HistogramMetricFamily(DURATIONS_NAME, DURATIONS_HELP, labels=["route"])
        for route, row in sorted(rows.items()):
            cumulative, buckets = 0.0, []
            for bound, count in zip([*map(_le, self._bounds), "+Inf"], row[:-1], strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            family.add_metric([route], buckets, sum_value=row[-1])
        yield family

    def _read_all(self, directory: str) -> Rows:
        """Every worker's published counts, added up (this one's as they are now)."""
        total: Rows = {}
        mine = DURATIONS_FILE.format(pid=self._pid)
        rows_of: list[object] = [self._rows]
        for path in Path(directory).glob(DURATIONS_FILE.format(pid="*")):
            if path.name != mine:
                with contextlib.suppress(OSError, orjson.JSONDecodeError):
                    rows_of.append(orjson.loads(path.read_bytes()))
        width = len(self._bounds) + 2
        for rows in rows_of:
            if not isinstance(rows, dict):
                continue
            for route, row in rows.items():
                if _is_row(row, width):
                    into = total.setdefault(route, [0] * width)
                    for index, count in enumerate(row):
                        into[index] += count
        return total


def _is_row(row: object, width: int) -> bool:
    """A published row as :class:`Durations` writes it: ``width`` numbers (a file of any
    other shape is passed over rather than failing the scrape)."""
    return (
        isinstance(row, list)
        and len(row) == width
        and all(isinstance(n, int | float) and not isinstance(n, bool) for n in row)
    )


def _le(bound: float) -> str:
    """A bucket's ``le`` label as prometheus-client writes it (``0.0005``, ``1.0``)."""
    return repr(float(bound))


class _SharedDurations:
    """The scrape's view of every worker's :class:`Durations` (a registry collector)."""

    def __init__(self, durations: Durations, directory: str) -> None:
        self._durations, self._directory = durations, directory

    def collect(self) -> Iterator[Metric]:
        return self._durations.collect(self._directory)


def record_worker_restart() -> None:
    """Count one worker restarted after it died (the supervisor calls this): a small file in
    the run's multiprocess directory, which every worker's scrape reads.

    The supervisor imported prometheus-client before it made the directory, so its own
    metrics would stay in its memory, out of the workers' scrapes; hence the file.
    """
    directory = multiprocess_dir()
    if directory is None:
        return
    path = Path(directory, RESTARTS_FILE)
    scratch = path.with_suffix(".tmp")
    try:
        scratch.write_bytes(orjson.dumps(worker_restarts(directory) + 1))
        scratch.replace(path)
    except OSError:  # the run's directory is gone (shutting down)
        pass


def worker_restarts(directory: str) -> int:
    """How many workers this run's supervisor has restarted (0 before the first)."""
    try:
        count = orjson.loads(Path(directory, RESTARTS_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return 0
    return count if isinstance(count, int) and not isinstance(count, bool) else 0


class _WorkerRestarts:
    """``bridge_worker_restarts_total`` for the scrape (a registry collector)."""

    def __init__(self, directory: str) -> None:
        self._directory = directory

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            RESTARTS_NAME,
            "Workers the supervisor restarted after they died.",
            value=worker_restarts(self._directory),
        )


class Metrics:
    """The gateway's metrics. Recording costs a dict look-up and a lock-protected add."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "bridge_http_requests", "Answered HTTP requests.",
            ["route", "method", "status"], registry=r,
        )  # fmt: skip
        self.durations = Durations(LATENCY_BUCKETS)
        r.register(self.durations)
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
        self.vendor_calls = Counter(
            "bridge_vendor_requests", "Calls to vendor APIs, by vendor, API and answer.",
            ["vendor", "api", "status"], registry=r,
        )  # fmt: skip
        self.breaker = Gauge(
            "bridge_vendor_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open.",
            ["vendor", "api"], registry=r, multiprocess_mode="livemax",
        )  # fmt: skip
        # the names before vendor_* (deprecated; removed in the next release): the same values,
        # with every vendor's calls under one ``api`` label as they were counted then
        self.zendesk = Counter(
            "bridge_zendesk_requests", "Deprecated: bridge_vendor_requests_total.",
            ["api", "status"], registry=r,
        )  # fmt: skip
        self.zendesk_breaker = Gauge(
            "bridge_zendesk_breaker_state", "Deprecated: bridge_vendor_breaker_state.",
            ["api"], registry=r, multiprocess_mode="livemax",
        )  # fmt: skip
        # the staff lookups of one login user, per configured lookup (its name and type)
        self.lookup_answers = Counter(
            "bridge_lookup_answers",
            "Staff lookups answered, by lookup, type and outcome (found, not_found, skipped "
            "or the vendor_* error code).",
            ["lookup", "type", "outcome"], registry=r,
        )  # fmt: skip
        self.lookup_seconds = Histogram(
            "bridge_lookup_duration_seconds", "Time one lookup took, cache or vendor.",
            ["lookup", "type"], registry=r, buckets=LOOKUP_BUCKETS,
        )  # fmt: skip
        self.lookup_breakers = Gauge(
            "bridge_lookup_breaker_state",
            "A lookup's circuit breaker: 0 closed, 1 half-open, 2 open.",
            ["lookup", "type"], registry=r, multiprocess_mode="livemax",
        )  # fmt: skip
        self.rate_limits = Counter(
            "bridge_rate_limit_events",
            "Rate limits: requests refused (limited) or let through with Redis down (fail_open).",
            ["limit", "outcome"],
            registry=r,
        )
        self.key_fetches = Counter(
            "bridge_login_keys_fetches",
            "Fetches of a login system's published keys (keys_url), by login system and result.",
            ["login", "result"],
            registry=r,
        )
        #: made at the first report, so that a gateway without Redis has no such series
        self.redis_up: Gauge | None = None
        # children cached by label values: no label-dict building per call
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
            self.durations.observe_many(route, seconds)
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

    def vendor_answer(self, vendor: str, api: str, status: int | str) -> None:
        self.vendor_calls.labels(vendor, api, str(status)).inc()
        self.zendesk.labels(_old_api(vendor, api), str(status)).inc()

    def breaker_changed(self, vendor: str, api: str, state: BreakerState) -> None:
        self.breaker.labels(vendor, api).set(BREAKER_STATES[state])
        self.zendesk_breaker.labels(_old_api(vendor, api)).set(BREAKER_STATES[state])

    def lookup_answered(self, lookup: str, type_: str, outcome: str, seconds: float) -> None:
        self.lookup_answers.labels(lookup, type_, outcome).inc()
        self.lookup_seconds.labels(lookup, type_).observe(seconds)

    def lookup_breaker(self, lookup: str, type_: str, state: BreakerState) -> None:
        self.lookup_breakers.labels(lookup, type_).set(BREAKER_STATES[state])

    def login_keys_fetched(self, login: str, *, ok: bool) -> None:
        self.key_fetches.labels(login, "ok" if ok else "failed").inc()

    def redis_available(self, up: bool) -> None:
        if self.redis_up is None:
            self.redis_up = Gauge(
                "bridge_redis_up", "1 when the configured Redis answers, else 0.",
                registry=self.registry, multiprocess_mode="livemin",
            )  # fmt: skip
        self.redis_up.set(1 if up else 0)

    # --- exposition ----------------------------------------------------------------------

    def publish(self) -> None:
        """Share what only this process holds (the durations) with the other workers."""
        directory = multiprocess_dir()
        if directory is not None:
            self.durations.publish(directory)

    def exposition(self) -> bytes:
        """The text format: every worker's values when several share the port."""
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        registry.register(_SharedDurations(self.durations, directory))
        registry.register(_WorkerRestarts(directory))
        return generate_latest(registry)


def _old_api(vendor: str, api: str) -> str:
    """The ``api`` label of the deprecated ``bridge_zendesk_*`` series: Zendesk's API, or the
    vendor's name for any other vendor (HubSpot's calls were ``api="hubspot"``)."""
    return api if vendor == "zendesk" else vendor


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
