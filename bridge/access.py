"""Per-request records: one :class:`AccessRecord` per request, turned into access lines and
request metrics in batches.

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
batches' answers as runs (:class:`Answers`, :meth:`AccessRecords.add_answers`), which become
the same lines and counts as their requests' records would, for less.

This is nginx's ``access_log ... buffer= flush=``. The price: a line reaches stdout, and the
other workers' counts reach a scrape, up to that many seconds late; each line still carries
its request's own timestamp. ``access_flush_seconds: 0`` records every request at once.

What a line may hold is decided here, not hoped for: the route is the matched resource's
pattern (``/v1/targets/{name}/token``), never the raw path or query; a request that no route
matched has the route ``(unmatched)`` and its ``path`` (:func:`unmatched_path`: no query, URL
characters only, cut short); the method is a known one
or ``OTHER``; target, subject, reason and login (the login system's configured short name)
are set by the gateway after verification. Nothing reads a header value into a line except
the validated request id (:func:`request_id_for`).
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import logging
import os
import re
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, BinaryIO, NamedTuple, TextIO

import orjson
import structlog
from aiohttp import web

from bridge.log import LogOutput, current_output, json_text, line_timestamp, redact
from bridge.metrics import Metrics

#: records kept at most before a batch is flushed regardless of the time
BATCH_LIMIT = 128

REQUEST_ID_HEADER = "X-Request-ID"
#: accepted incoming request ids: UUIDs, hex, W3C trace ids and the like; at most 64 chars
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+-]{0,63}")
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: successful probe answers are counted but not logged (a probe every few seconds is noise)
PROBE_ROUTES = frozenset({"/healthz", "/readyz"})
#: the keys of the access and audit lines: none is sensitive (tested), so a batch of lines
#: with only these keys needs redacting only where its text has something JWT-shaped
SAFE_LINE_KEYS = frozenset(
    {"event", "logger", "level", "timestamp", "request_id", "method", "route", "status",
     "duration_ms", "target", "subject", "reason", "pid", "kind", "staff", "id", "verdict",
     "source", "login", "path"}
)  # fmt: skip
#: an unmatched request's route; its access line names the path too
UNMATCHED = "(unmatched)"
#: the longest path an access line shows
PATH_CHARS = 120
#: what an access line's path may show as it is: URL path characters (percent-escapes stay)
_NOT_PATH = re.compile(r"[^A-Za-z0-9/._~%!$&'()*+,;=:@-]")


class AccessRecord(NamedTuple):
    """What the edge middleware keeps of one answered request."""

    #: wall-clock time the request arrived (epoch seconds)
    time: float
    request_id: str
    method: str
    #: the matched route's pattern (:func:`route_of`)
    route: str
    status: int
    seconds: float
    target: str | None
    subject: str | None
    #: why a request was refused (``BridgeError.reason``), for 4xx/5xx only
    reason: str | None
    #: the short name of the login system that verified the login token
    login: str | None = None
    #: the path of a request no route matched (:func:`unmatched_path`)
    path: str | None = None


class Answers(NamedTuple):
    """A run of answered requests recorded together (the token fast path's batches): one
    method, route, status, target and login system, and one wall-clock time (the batch's),
    with each request's own id, duration and subject. It is counted and written exactly as
    that many :class:`AccessRecord` would be, in a fraction of their time: a record object,
    a dict and a JSON encoding per request were a tenth of a token request's time."""

    time: float
    method: str
    route: str
    status: int
    target: str | None
    login: str | None
    #: per request: its id (as :func:`request_id_for` makes it), seconds taken, and subject
    entries: list[tuple[str, float, str | None]]

    def records(self) -> Iterator[AccessRecord]:
        now, method, route, status, target, login, entries = self
        for request_id, seconds, subject in entries:
            yield AccessRecord(now, request_id, method, route, status, seconds, target, subject,
                               None, login)  # fmt: skip


#: what waits for the next flush: a request's record, a run of them, or a finished line (an
#: audit line)
Pending = AccessRecord | Answers | dict[str, Any]

_live: weakref.WeakSet[AccessRecords] = weakref.WeakSet()


def flush_all() -> None:
    """Flush every live app's records (at exit; tests that read lines call it too)."""
    for records in list(_live):
        records.flush()


atexit.register(flush_all)


def route_of(request: web.BaseRequest) -> str:
    match_info = getattr(request, "match_info", None)
    route = getattr(match_info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is None:
        return UNMATCHED
    canonical: str = resource.canonical
    return canonical


#: fresh request ids: 16 random hex digits per process, then a counter in 16 more. Unique
#: across processes and restarts like a random id, without a ``getrandom`` system call per
#: request. Nothing relies on an id being unguessable: it only ties lines to an answer.
_ID_PREFIX = os.urandom(8).hex()
_id_counter = itertools.count(1)


def unmatched_path(request: web.BaseRequest) -> str:
    """The path of a request no route matched, for its access line: as sent (percent-escapes
    kept), without the query, anything but URL path characters as ``?``, cut at
    :data:`PATH_CHARS`."""
    path = request.raw_path.partition("?")[0].partition("#")[0]
    shown = _NOT_PATH.sub("?", path[:PATH_CHARS])
    return shown + "..." if len(path) > PATH_CHARS else shown


def request_id_for(given: str | None) -> str:
    """The caller's id when it is safe to log and echo, else a fresh one (32 hex digits)."""
    if given is not None and _REQUEST_ID.fullmatch(given) and "eyJ" not in given:
        return given
    return _ID_PREFIX + format(next(_id_counter), "016x")


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


def access_line(record: AccessRecord, pid: int) -> dict[str, Any]:
    """The access line of one request (its keys are all in :data:`SAFE_LINE_KEYS`)."""
    now, request_id, method, route, status, seconds, target, subject, reason, login, path = record
    line = {
        "event": "request",
        "logger": "bridge.access",
        "timestamp": line_timestamp(now),
        "request_id": request_id,
        "method": method if method in KNOWN_METHODS else "OTHER",
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "target": target,
        "subject": subject,
        "reason": reason,
        "login": login,
        "pid": pid,
    }
    if path is not None:
        line["path"] = path
    return line


#: text that a JSON string may hold as it is (no quote, backslash, control character or lone
#: surrogate): a run's ids and subjects are checked all at once
_PLAIN = re.compile(r'[^"\\\x00-\x1f\ud800-\udfff]*')


class AnswerLines(NamedTuple):
    """The access lines of a run of :class:`Answers`: as events (what :func:`access_line`
    makes for each of its records) or as JSON text with the same keys, in the same order and
    with the same values, made from one template per run."""

    answers: Answers
    pid: int

    def events(self) -> Iterator[dict[str, Any]]:
        pid = self.pid
        for record in self.answers.records():
            yield access_line(record, pid)

    def text(self) -> str | None:
        """The lines as JSON text (each ending with a newline, ``level`` last as the writer
        adds it); None when an id or subject would need escaping (then :meth:`events`)."""
        now, method, route, status, target, login, entries = self.answers
        texts = [request_id for request_id, _, _ in entries]
        texts += [subject for _, _, subject in entries if subject is not None]
        if not _PLAIN.fullmatch("".join(texts)):
            return None
        dumps = orjson.dumps
        head = (
            '{"event":"request","logger":"bridge.access",'
            f'"timestamp":"{line_timestamp(now)}","request_id":"'
        )
        middle = (
            f'","method":{dumps(method if method in KNOWN_METHODS else "OTHER").decode()}'
            f',"route":{dumps(route).decode()},"status":{status:d},"duration_ms":'
        )
        after = f',"target":{dumps(target).decode()},"subject":'
        tail = f',"reason":null,"login":{dumps(login).decode()},"pid":{self.pid:d}'
        tail += ',"level":"info"}\n'
        # a float formatted to 3 decimals is the value round(seconds * 1000, 3) has in JSON
        return "".join([
            f"{head}{request_id}{middle}{seconds * 1000:.3f}{after}"
            + (f'"{subject}"' if subject is not None else "null") + tail
            for request_id, seconds, subject in entries
        ])  # fmt: skip


#: a finished line, or a run's access lines
Line = dict[str, Any] | AnswerLines


# --- the writer --------------------------------------------------------------------------

Writer = Callable[[Iterable[Line]], None]
#: the writer made for the current log output (remade when logging is configured again)
_writer: tuple[LogOutput | None, Writer] | None = None
_structlog_lines = structlog.get_logger()  # a lazy proxy: bound to the configuration at use


def write_lines(events: Iterable[Line]) -> None:
    """Write finished lines (access and audit lines): all in one ``write`` in JSON mode;
    through structlog otherwise (console format, or logging never configured)."""
    global _writer
    output = current_output()
    if _writer is None or _writer[0] is not output:
        _writer = (output, _make_writer(output))
    _writer[1](events)


def _each(lines: Iterable[Line]) -> Iterator[dict[str, Any]]:
    """Every line as an event."""
    for line in lines:
        if isinstance(line, AnswerLines):
            yield from line.events()
        else:
            yield line


def _through_structlog(events: Iterable[Line]) -> None:
    for event in _each(events):
        _structlog_lines.info(**event)


def _make_writer(output: LogOutput | None) -> Writer:
    """Lines skip structlog's per-call machinery (a bound-logger proxy, a context copy, a
    processor chain: ~3/4 of a line's cost) but go through the same steps: level, ``redact``,
    orjson. Each event brings its own timestamp."""
    if output is None or output.console:
        return _through_structlog
    if output.level > logging.INFO:
        return lambda events: None  # access lines are info lines
    out = output.stream
    binary: BinaryIO | None = getattr(out, "buffer", None)
    if binary is None:
        return lambda events: _write_text(out, events)
    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE
    safe_keys = SAFE_LINE_KEYS.issuperset

    def write_bytes(lines: Iterable[Line]) -> None:
        # Each line goes into one buffer as it is made, and its event and bytes are dropped at
        # once: keeping a batch's separate bytes objects alive until a join made orjson's
        # allocations about ten times slower (measured with the benchmark's access line).
        data = bytearray()
        for event in _each_or_text(lines):
            if isinstance(event, str):
                data += event.encode()
                continue
            event["level"] = "info"
            line = dumps(event, option=newline)
            # what redact() would change: a key outside the known, non-sensitive keys of the
            # access and audit lines, or anything JWT-shaped in the text
            if b"eyJ" in line or not safe_keys(event):
                line = dumps(redact(None, "info", event), option=newline)
            data += line
        if not data:
            return
        try:
            binary.write(data)
            binary.flush()
        except (OSError, ValueError):  # stdout closed or gone: as print() would, drop them
            pass

    return write_bytes


def _each_or_text(lines: Iterable[Line]) -> Iterator[dict[str, Any] | str]:
    """Every line as an event, or a run's lines as their text where nothing in it needs
    escaping or redacting (the key set is the access line's: all in :data:`SAFE_LINE_KEYS`)."""
    for line in lines:
        if isinstance(line, AnswerLines):
            text = line.text()
            if text is not None and "eyJ" not in text:
                yield text
            else:
                yield from line.events()
        else:
            yield line


def _write_text(out: TextIO, events: Iterable[Line]) -> None:
    lines = []
    for event in _each(events):
        event["level"] = "info"
        lines.append(json_text(redact(None, "info", event)) + "\n")
    out.write("".join(lines))
    out.flush()
