"""Per-request records, turned into access lines and request metrics in batches.

Writing a request's access line and counting it in Prometheus while answering it costs a
``write`` system call and a few hundred lines of Python per request. So the edge middleware
only appends a record here, and :meth:`AccessRecords.flush` turns a batch of them into access
lines (one ``write`` for all) and metric updates:

* every ``log.access_flush_seconds`` (1 s by default) while the app runs, and at its shutdown
  (then the worker also shares its request durations with the other workers' scrapes);
* whenever :data:`BATCH_LIMIT` records wait (so memory stays bounded under any load);
* before ``/metrics`` answers, so a scrape sees every request this process has answered;
* at interpreter exit (:func:`flush_all`).

The staff lookups' audit lines (``bridge.audit``) go out with the same batches
(:meth:`AccessRecords.add_line`), for the same reason. The token fast path records its
batches' answers as runs (:class:`~bridge.access_records.Answers`,
:meth:`AccessRecords.add_answers`), which become the same lines and counts as their requests'
records would, for less.

This is nginx's ``access_log ... buffer= flush=``. The price: a line reaches stdout, and the
other workers' counts reach a scrape, up to that many seconds late; each line still carries
its request's own timestamp. ``access_flush_seconds: 0`` records every request at once.

The records are :mod:`bridge.access_records`; their lines, :mod:`bridge.access_lines`.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

from bridge.access_lines import AnswerLines, Line, access_line, write_lines
from bridge.access_records import KNOWN_METHODS, PROBE_ROUTES, AccessRecord, Answers
from bridge.log import line_timestamp
from bridge.metrics import Metrics

#: records kept at most before a batch is flushed regardless of the time
BATCH_LIMIT = 128

#: what waits for the next flush: a request's record, a run of them, or a finished line (an
#: audit line)
Pending = AccessRecord | Answers | dict[str, Any]

_live: weakref.WeakSet[AccessRecords] = weakref.WeakSet()


def flush_all() -> None:
    """Flush every live app's records (at exit; tests that read lines call it too)."""
    for records in list(_live):
        records.flush()


atexit.register(flush_all)


class AccessRecords:
    """What the edge middleware hands over per request, until the next flush."""

    __slots__ = (
        "__weakref__", "_limit", "_log", "_metrics", "_pending", "_pid", "_size", "interval"
    )  # fmt: skip

    def __init__(self, metrics: Metrics | None, *, log_requests: bool, interval: float) -> None:
        self._metrics = metrics
        self._log = log_requests
        self._pending: list[Pending] = []
        self._size = 0  # requests and lines pending (a run counts each of its requests)
        self._pid = os.getpid()  # which worker answered
        self.interval = interval
        self._limit = BATCH_LIMIT if interval > 0 else 1
        _live.add(self)

    @property
    def wanted(self) -> bool:
        """Whether anything is made of records (a line or a metric)."""
        return self._log or self._metrics is not None

    def add(self, record: AccessRecord) -> None:
        self._pending.append(record)
        self._size += 1
        if self._size >= self._limit:
            self.flush()

    def add_answers(self, answers: Answers) -> None:
        self._pending.append(answers)
        self._size += len(answers.entries)
        if self._size >= self._limit:
            self.flush()

    def add_line(self, event: dict[str, Any]) -> None:
        """A line of its own (``event``, ``logger`` and fields), written with the next batch
        whether or not access lines are on; it gets the current time as its timestamp."""
        event["timestamp"] = line_timestamp(time.time())
        self._pending.append(event)
        self._size += 1
        if self._size >= self._limit:
            self.flush()

    def flush(self) -> None:
        batch = self._pending
        if not batch:
            return
        self._pending = []
        self._size = 0
        if self._metrics is not None:
            self._count(batch, self._metrics)
        if self._log or any(isinstance(item, dict) for item in batch):
            write_lines(self._lines(batch))
        if self.interval <= 0:  # no timer: every record is shared at once
            self._publish()

    @staticmethod
    def _count(batch: list[Pending], metrics: Metrics) -> None:
        requests: dict[tuple[str, str, int], int] = {}
        durations: dict[str, list[float]] = {}
        minted: dict[str, int] = {}
        failures: dict[str, int] = {}
        logins: dict[str, int] = {}
        for item in batch:
            if isinstance(item, Answers):
                _, method, route, status, target, login, entries = item
                count = len(entries)
                key = (route, method if method in KNOWN_METHODS else "OTHER", status)
                requests[key] = requests.get(key, 0) + count
                durations.setdefault(route, []).extend([seconds for _, seconds, _ in entries])
                if target is not None and status == 200:
                    minted[target] = minted.get(target, 0) + count
                if login is not None:
                    logins[login] = logins.get(login, 0) + count
                continue
            if isinstance(item, dict):
                continue
            _, _, method, route, status, seconds, target, _, reason, login, _ = item
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
            if login is not None:
                logins[login] = logins.get(login, 0) + 1
        metrics.record_requests(requests, durations, minted, failures, logins)

    def _lines(self, batch: list[Pending]) -> Iterator[Line]:
        """The batch's lines in order: audit lines as they are, requests as access lines
        (when those are on; successful probes are only counted)."""
        log_requests, pid = self._log, self._pid
        for item in batch:
            if isinstance(item, dict):
                yield item
            elif not log_requests or (item.status < 400 and item.route in PROBE_ROUTES):
                continue
            elif isinstance(item, Answers):
                yield AnswerLines(item, pid)
            else:
                yield access_line(item, pid)

    async def flusher(self, app: object) -> AsyncIterator[None]:
        """``cleanup_ctx``: flush every ``interval`` seconds while the app runs, and at the end."""
        timer: asyncio.TimerHandle | None = None
        if self.interval > 0:
            loop = asyncio.get_running_loop()

            def tick() -> None:
                nonlocal timer
                timer = loop.call_later(self.interval, tick)
                self.flush()
                self._publish()

            timer = loop.call_later(self.interval, tick)
        try:
            yield
        finally:
            if timer is not None:
                timer.cancel()
            self.flush()
            self._publish()

    def _publish(self) -> None:
        """Share this worker's request durations with the others' scrapes (once a tick)."""
        if self._metrics is not None:
            self._metrics.publish()
