"""Logging: JSON lines on stdout, one access line per request, and what never gets logged.

``configure_logging`` sets up structlog for the gateway's own lines and routes the standard
library's records (aiohttp, redis, ``bridge.*`` loggers) through the same renderer, so stdout
carries one kind of line: JSON objects, or aligned human-readable text when it is a terminal.

Per request the gateway's one middleware (:mod:`bridge.middlewares`) takes the caller's
``X-Request-ID`` when it is short and of a safe alphabet (:func:`request_id_for`, else it makes
one), and :mod:`bridge.records` writes one line for it (``bridge.access``,
:func:`write_access_lines`): request id, method, route, status, duration, target, login
subject, for refusals the reason, and the worker's pid.

What a line may hold is decided here, not hoped for: the route is the matched resource's
pattern (``/v1/targets/{name}/token``), never the raw path or query; the method is a known one
or ``OTHER``; target, subject and reason are set by the gateway after verification. Nothing
reads a header value into a line except the validated request id. As a second line of
defence every line, ours or a library's, goes through :func:`redact`, which blanks values under
sensitive key names and masks anything shaped like a JWT.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, BinaryIO, Literal, TextIO

import orjson
import structlog
from aiohttp import web

#: request keys filled along the way and read by the access line
TARGET = web.RequestKey("target", str)
SUBJECT = web.RequestKey("subject", str)
ERROR_REASON = web.RequestKey("error_reason", str)
REQUEST_ID = web.RequestKey("request_id", str)

REQUEST_ID_HEADER = "X-Request-ID"
#: accepted incoming request ids: UUIDs, hex, W3C trace ids and the like; at most 64 chars
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+-]{0,63}")
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: successful probe answers are counted but not logged (a probe every few seconds is noise)
PROBE_ROUTES = frozenset({"/healthz", "/readyz"})

access_log = logging.getLogger("bridge.access")

# --- redaction ---------------------------------------------------------------------------

REDACTED = "[redacted]"
SENSITIVE_KEYS = frozenset(
    {"token", "cookie", "cookies", "authorization", "password", "secret", "api_key", "key",
     "set-cookie", "x-api-key", "jwt", "id_token", "access_token", "refresh_token"}
)  # fmt: skip
#: the keys of the access and audit lines: none is sensitive (tested), so a batch of lines
#: with only these keys needs redacting only where its text has something JWT-shaped
SAFE_LINE_KEYS = frozenset(
    {"event", "logger", "level", "timestamp", "request_id", "method", "route", "status",
     "duration_ms", "target", "subject", "reason", "pid", "kind", "staff", "id", "verdict",
     "source"}
)  # fmt: skip
#: a JWS/JWE compact serialisation: base64url of '{"' starts with "eyJ"
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)*")


def mask_jwts(text: str) -> str:
    return _JWT.sub("[redacted-jwt]", text) if "eyJ" in text else text


def redact(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: blank sensitive keys, mask JWT-shaped text in every string."""
    for key, value in event.items():
        if key in SENSITIVE_KEYS or (not key.islower() and key.lower() in SENSITIVE_KEYS):
            event[key] = REDACTED
        elif value.__class__ is str and "eyJ" in value:
            event[key] = mask_jwts(value)
    return event


#: ".000Z" to ".999Z": a look-up instead of a format per line
_MILLISECONDS = tuple(f".{ms:03d}Z" for ms in range(1000))


class _Timestamp:
    """structlog processor: ISO 8601 UTC with milliseconds, the date part made once a second
    (structlog's ``TimeStamper`` formats a datetime per line, a measurable share of a line).
    An event that has a ``timestamp`` keeps it: an access line carries its request's time."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def format(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return self._prefix + _MILLISECONDS[int((now - second) * 1000) % 1000]

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if "timestamp" not in event:
            event["timestamp"] = self.format(time.time())
        return event


class RedactParseErrors(logging.Filter):
    """Strip the exception text from aiohttp's "Error handling request" records.

    When a request cannot be parsed (a header over the size limit, say) aiohttp logs the
    exception, whose message quotes the first bytes of the offending line: the ``Cookie``
    header and so a login token. The record keeps its message and the exception's type only.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.msg} ({type(record.exc_info[1]).__name__}, details redacted)"
            record.exc_info = None
            record.exc_text = None
        return True


_REDACTION = RedactParseErrors()


def install_redaction() -> None:
    """Idempotent: filter aiohttp's server logger (its records can quote request headers)."""
    server_logger = logging.getLogger("aiohttp.server")
    if _REDACTION not in server_logger.filters:
        server_logger.addFilter(_REDACTION)


# --- set-up ------------------------------------------------------------------------------

LogFormat = Literal["auto", "json", "console"]

#: writes access events as JSON lines, in one ``write``; set by ``configure_logging`` in JSON
#: mode. Access lines skip structlog's per-call machinery (a bound-logger proxy, a context copy,
#: a processor chain: ~3/4 of a line's cost) but go through the same steps: level, ``redact``,
#: orjson. Each event brings its own timestamp (:func:`access_timestamp`).
_access_writer: Callable[[Iterable[dict[str, Any]]], None] | None = None
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}  # fmt: skip
_timestamps = _Timestamp()


def access_timestamp(now: float) -> str:
    """``now`` (seconds since the epoch) as an access line's timestamp."""
    return _timestamps.format(now)


def _json_lines_writer(out: TextIO, level: int) -> Callable[[Iterable[dict[str, Any]]], None]:
    if level > logging.INFO:
        return lambda events: None  # access lines are info lines
    binary: BinaryIO | None = getattr(out, "buffer", None)
    if binary is None:
        return lambda events: _write_text(out, events)
    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE
    safe_keys = SAFE_LINE_KEYS.issuperset

    # the same rendering as structlog's set-up below: orjson bytes, or json text on a text stream
    def write_bytes(events: Iterable[dict[str, Any]]) -> None:
        # Each line goes into one buffer as it is made, and its event and bytes are dropped at
        # once: keeping a batch's 512 separate bytes objects alive until a join made orjson's
        # allocations about ten times slower (measured with the benchmark's access line).
        data = bytearray()
        for event in events:
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


def _write_text(out: TextIO, events: Iterable[dict[str, Any]]) -> None:
    lines = []
    for event in events:
        event["level"] = "info"
        lines.append(json.dumps(redact(None, "info", event)) + "\n")
    out.write("".join(lines))
    out.flush()


def write_access_lines(events: Iterable[dict[str, Any]]) -> None:
    """Write access lines: all in one go in JSON mode; through structlog otherwise (console
    format, or logging never configured)."""
    write = _access_writer
    if write is not None:
        write(events)
        return
    for event in events:
        _structlog_access.info(**event)


_structlog_access = structlog.get_logger()  # a lazy proxy: bound to the configuration at first use


def configure_logging(
    format: LogFormat = "auto", level: str = "info", *, stream: TextIO | None = None
) -> None:
    """JSON lines (or console text) on ``stream`` (stdout) for structlog and stdlib alike."""
    out = stream if stream is not None else sys.stdout
    global _access_writer
    console = format == "console" or (format == "auto" and out.isatty())
    numeric = _LEVELS.get(level, logging.INFO)
    timestamper = _timestamps
    _access_writer = None if console else _json_lines_writer(out, numeric)
    # the access line is written per request: orjson and a bytes logger where possible (the
    # set-up structlog's documentation gives for speed); text streams get str lines
    renderer: Any
    factory: Any
    if console:
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty())
        factory = structlog.WriteLoggerFactory(out)
    elif hasattr(out, "buffer"):
        renderer = structlog.processors.JSONRenderer(serializer=orjson.dumps)
        factory = structlog.BytesLoggerFactory(out.buffer)
    else:
        renderer = structlog.processors.JSONRenderer()
        factory = structlog.WriteLoggerFactory(out)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            timestamper,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    stdlib_renderer = renderer if console else structlog.processors.JSONRenderer()
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                timestamper,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact,
                stdlib_renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # aiohttp's own access lines quote the raw request line (query strings included); the
    # gateway writes its own line, so theirs stay off under any runner
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    install_redaction()


# --- the access middleware ---------------------------------------------------------------


def route_of(request: web.BaseRequest) -> str:
    match_info = getattr(request, "match_info", None)
    route = getattr(match_info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is None:
        return "(unmatched)"
    canonical: str = resource.canonical
    return canonical


#: fresh request ids: 16 random hex digits per process, then a counter in 16 more. Unique
#: across processes and restarts like a random id, without a ``getrandom`` system call per
#: request. Nothing relies on an id being unguessable: it only ties lines to an answer.
_ID_PREFIX = os.urandom(8).hex()
_id_counter = itertools.count(1)


def request_id_for(given: str | None) -> str:
    """The caller's id when it is safe to log and echo, else a fresh one (32 hex digits)."""
    if given is not None and _REQUEST_ID.fullmatch(given) and "eyJ" not in given:
        return given
    return f"{_ID_PREFIX}{next(_id_counter):016x}"
