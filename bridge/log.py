"""Logging: JSON lines on stdout, one access line per request, and what never gets logged.

``configure_logging`` sets up structlog for the gateway's own lines and routes the standard
library's records (aiohttp, redis, ``bridge.*`` loggers) through the same renderer, so stdout
carries one kind of line: JSON objects, or aligned human-readable text when it is a terminal.

``access_middleware`` is the outermost middleware. Per request it

* takes the caller's ``X-Request-ID`` when it is short and of a safe alphabet, else makes one,
  and echoes it on the answer;
* writes one line (``bridge.access``): request id, method, route, status, duration, target,
  login subject, for refusals the reason, and the worker's pid;
* records the request's metrics (:mod:`bridge.metrics`).

What a line may hold is decided here, not hoped for: the route is the matched resource's
pattern (``/v1/targets/{name}/token``), never the raw path or query; the method is a known one
or ``OTHER``; target, subject and reason are set by the gateway after verification. Nothing
reads a header value into a line except the validated request id. As a second line of
defence every line, ours or a library's, goes through :func:`redact`, which blanks values under
sensitive key names and masks anything shaped like a JWT.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, MutableMapping
from typing import Any, BinaryIO, Literal, TextIO

import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from bridge.metrics import Metrics

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


class _Timestamp:
    """structlog processor: ISO 8601 UTC with milliseconds, the date part made once a second
    (structlog's ``TimeStamper`` formats a datetime per line, a measurable share of a line)."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        event["timestamp"] = f"{self._prefix}.{int((now - second) * 1000):03d}Z"
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

#: writes one access event as a JSON line; set by ``configure_logging`` in JSON mode. The
#: access line is written once per request, so it skips structlog's per-call machinery (a
#: bound-logger proxy, a context copy, a processor chain: ~3/4 of a line's cost) but goes
#: through the same steps: level, timestamp, ``redact``, orjson.
_access_writer: Callable[[dict[str, Any]], None] | None = None
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}  # fmt: skip


def _json_line_writer(
    out: TextIO, timestamper: _Timestamp, level: int
) -> Callable[[dict[str, Any]], None]:
    if level > logging.INFO:
        return lambda event: None  # access lines are info lines
    binary: BinaryIO | None = getattr(out, "buffer", None)
    if binary is None:
        return lambda event: _write_text(out, timestamper, event)

    # the same rendering as structlog's set-up below: orjson bytes, or json text on a text stream
    def write_bytes(event: dict[str, Any]) -> None:
        event["level"] = "info"
        binary.write(orjson.dumps(redact(None, "info", timestamper(None, "info", event))) + b"\n")
        binary.flush()

    return write_bytes


def _write_text(out: TextIO, timestamper: _Timestamp, event: dict[str, Any]) -> None:
    event["level"] = "info"
    out.write(json.dumps(redact(None, "info", timestamper(None, "info", event))) + "\n")
    out.flush()


def configure_logging(
    format: LogFormat = "auto", level: str = "info", *, stream: TextIO | None = None
) -> None:
    """JSON lines (or console text) on ``stream`` (stdout) for structlog and stdlib alike."""
    out = stream if stream is not None else sys.stdout
    global _access_writer
    console = format == "console" or (format == "auto" and out.isatty())
    numeric = _LEVELS.get(level, logging.INFO)
    timestamper = _Timestamp()
    _access_writer = None if console else _json_line_writer(out, timestamper, numeric)
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


def request_id_for(given: str | None) -> str:
    """The caller's id when it is safe to log and echo, else a fresh random one."""
    if given is not None and _REQUEST_ID.fullmatch(given) and "eyJ" not in given:
        return given
    return os.urandom(16).hex()


def access_middleware(metrics: Metrics | None, *, log_requests: bool = True) -> Middleware:
    """The outermost middleware: request id, one access line, the request's metrics."""
    logger = structlog.get_logger()  # a lazy proxy: bound to the configuration at first use
    perf_counter = time.perf_counter
    pid = os.getpid()  # which worker answered

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = perf_counter()
        request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
        request[REQUEST_ID] = request_id
        status = 500
        try:
            response = await handler(request)
            status = response.status
            response.headers[REQUEST_ID_HEADER] = request_id
            return response
        except web.HTTPException as exc:  # only redirects get here; errors are JSON answers
            status = exc.status
            exc.headers[REQUEST_ID_HEADER] = request_id
            raise
        except BaseException:
            status = 499  # the client went away (cancelled) or a bug past error_middleware
            raise
        finally:
            seconds = perf_counter() - started
            route = route_of(request)
            method = request.method if request.method in KNOWN_METHODS else "OTHER"
            target = request.get(TARGET)
            reason = request.get(ERROR_REASON)
            if metrics is not None:
                metrics.observe_request(route, method, status, seconds)
                if target is not None:  # a token route, past the target look-up
                    if status == 200:
                        metrics.token_minted(target)
                    elif reason is not None:
                        metrics.verification_failed(reason)
            if log_requests and (status >= 400 or route not in PROBE_ROUTES):
                event = {
                    "event": "request",
                    "logger": "bridge.access",
                    "request_id": request_id,
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "target": target,
                    "subject": request.get(SUBJECT),
                    "reason": reason,
                    "pid": pid,
                }
                write = _access_writer
                if write is not None:
                    write(event)
                else:  # console format, or logging never configured: structlog as usual
                    logger.info(**event)

    return middleware
