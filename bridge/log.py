"""Logging: JSON lines on stdout, and what never gets logged.

``configure_logging`` sets up structlog for the gateway's own lines and routes the standard
library's records (aiohttp, redis, ``bridge.*`` loggers) through the same renderer, so stdout
carries one kind of line: JSON objects, or aligned human-readable text when it is a terminal.
The per-request access lines are made and written in batches by :mod:`bridge.access`, onto the
output configured here (:func:`current_output`).

As a second line of defence every line, ours or a library's, goes through :func:`redact`,
which blanks values under sensitive key names and masks anything shaped like a JWT.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any, Literal, TextIO

import orjson
import structlog

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

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}  # fmt: skip
_timestamps = _Timestamp()


def line_timestamp(now: float) -> str:
    """``now`` (seconds since the epoch) as a line's timestamp."""
    return _timestamps.format(now)


@dataclass(frozen=True, eq=False)
class LogOutput:
    """Where and how lines go, as :func:`configure_logging` last set it up."""

    stream: TextIO
    level: int
    console: bool


_output: LogOutput | None = None


def current_output() -> LogOutput | None:
    """The configured output; None until :func:`configure_logging` runs."""
    return _output


def json_text(event: Any, **options: Any) -> str:
    """One JSON line's text, as every line is written: orjson's compact form (``{"a":1}``),
    whichever way it goes out (bytes or a text stream, structlog or the standard library)."""
    return orjson.dumps(event, default=options.get("default")).decode()


def configure_logging(
    format: LogFormat = "auto", level: str = "info", *, stream: TextIO | None = None
) -> None:
    """JSON lines (or console text) on ``stream`` (stdout) for structlog and stdlib alike."""
    out = stream if stream is not None else sys.stdout
    global _output
    console = format == "console" or (format == "auto" and out.isatty())
    numeric = _LEVELS.get(level, logging.INFO)
    timestamper = _timestamps
    _output = LogOutput(out, numeric, console)
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
        renderer = structlog.processors.JSONRenderer(serializer=json_text)
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
    # the standard library's records (aiohttp's, the supervisor's) in the same compact JSON
    stdlib_renderer = (
        renderer if console else structlog.processors.JSONRenderer(serializer=json_text)
    )
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
