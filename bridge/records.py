"""Request records: one small tuple per request; in batches, access lines and request metrics.

Writing a request's access line and counting it in Prometheus while answering it costs a
``write`` system call and a few hundred lines of Python per request: turning both off saved a
fifth to a third of a token request's CPU time (measured in and out of a running server). So the
edge middleware only appends a tuple here, and :meth:`RequestRecords.flush` turns a batch of
them into access lines (one ``write`` for all) and metric updates:

* every ``log.access_flush_seconds`` (1 s by default) while the app runs, and at its shutdown;
* whenever :data:`BATCH_LIMIT` records wait (so memory stays bounded under any load);
* before ``/metrics`` answers, so a scrape sees every request this process has answered;
* at interpreter exit (:func:`flush_all`).

The staff lookups' audit lines (``bridge.audit``) go out with the same batches
(:meth:`RequestRecords.add_line`), for the same reason.

This is nginx's ``access_log ... buffer= flush=``. The price: a line reaches stdout, and the
other workers' counts reach a scrape, up to that many seconds late; each line still carries
its request's own timestamp. ``access_flush_seconds: 0`` records every request at once.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

from bridge.log import KNOWN_METHODS, PROBE_ROUTES, access_timestamp, write_access_lines
from bridge.metrics import Metrics

#: records kept at most before a batch is flushed regardless of the time
BATCH_LIMIT = 512

#: (wall time, request id, method, route, status, seconds, target, subject, reason)
Record = tuple[float, str, str, str, int, float, "str | None", "str | None", "str | None"]
#: what waits for the next flush: a request's record, or a finished line (an audit line)
Pending = Record | dict[str, Any]

_live: weakref.WeakSet[RequestRecords] = weakref.WeakSet()


def flush_all() -> None:
    """Flush every live app's records (at exit; tests that read lines call it too)."""
    for records in list(_live):
        records.flush()


atexit.register(flush_all)


class RequestRecords:
    """What the edge middleware hands over per request, until the next flush."""

    __slots__ = ("__weakref__", "_limit", "_log", "_metrics", "_pending", "_pid", "interval")

    def __init__(self, metrics: Metrics | None, *, log_requests: bool, interval: float) -> None:
        self._metrics = metrics
        self._log = log_requests
        self._pending: list[Pending] = []
        self._pid = os.getpid()  # which worker answered
        self.interval = interval
        self._limit = BATCH_LIMIT if interval > 0 else 1
        _live.add(self)

    @property
    def wanted(self) -> bool:
        """Whether anything is made of records (a line or a metric)."""
        return self._log or self._metrics is not None

    def add(self, record: Record) -> None:
        pending = self._pending
        pending.append(record)
        if len(pending) >= self._limit:
            self.flush()

    def add_line(self, event: dict[str, Any]) -> None:
        """A line of its own (``event``, ``logger`` and fields), written with the next batch
        whether or not access lines are on; it gets the current time as its timestamp."""
        event["timestamp"] = access_timestamp(time.time())
        self._pending.append(event)
        if len(self._pending) >= self._limit:
            self.flush()

    def flush(self) -> None:
        batch = self._pending
        if not batch:
            return
        self._pending = []
        if self._metrics is not None:
            self._count(batch, self._metrics)
        if self._log or any(isinstance(item, dict) for item in batch):
            write_access_lines(self._lines(batch))

    @staticmethod
    def _count(batch: list[Pending], metrics: Metrics) -> None:
        requests: dict[tuple[str, str, int], int] = {}
        durations: dict[str, list[float]] = {}
        minted: dict[str, int] = {}
        failures: dict[str, int] = {}
        for item in batch:
            if isinstance(item, dict):
                continue
            _, _, method, route, status, seconds, target, _, reason = item
            key = (route, method if method in KNOWN_METHODS else "OTHER", status)
            requests[key] = requests.get(key, 0) + 1
            found = durations.get(route)
            if found is None:
                durations[route] = [seconds]
            else:
                found.append(seconds)
            if target is not None:  # a token route, past the target look-up
                if status == 200:
                    minted[target] = minted.get(target, 0) + 1
                elif reason is not None:
                    failures[reason] = failures.get(reason, 0) + 1
        metrics.record_requests(requests, durations, minted, failures)

    def _lines(self, batch: list[Pending]) -> Iterator[dict[str, Any]]:
        """The batch's lines in order: audit lines as they are, requests as access lines
        (when those are on; successful probes are only counted)."""
        log_requests, pid = self._log, self._pid
        for item in batch:
            if isinstance(item, dict):
                yield item
                continue
            now, request_id, method, route, status, seconds, target, subject, reason = item
            if log_requests and (status >= 400 or route not in PROBE_ROUTES):
                yield {
                    "event": "request",
                    "logger": "bridge.access",
                    "timestamp": access_timestamp(now),
                    "request_id": request_id,
                    "method": method if method in KNOWN_METHODS else "OTHER",
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "target": target,
                    "subject": subject,
                    "reason": reason,
                    "pid": pid,
                }

    async def flusher(self, app: object) -> AsyncIterator[None]:
        """``cleanup_ctx``: flush every ``interval`` seconds while the app runs, and at the end."""
        timer: asyncio.TimerHandle | None = None
        if self.interval > 0:
            loop = asyncio.get_running_loop()

            def tick() -> None:
                nonlocal timer
                timer = loop.call_later(self.interval, tick)
                self.flush()

            timer = loop.call_later(self.interval, tick)
        try:
            yield
        finally:
            if timer is not None:
                timer.cancel()
            self.flush()
