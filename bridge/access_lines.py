"""Access lines: what a record's line holds (:func:`access_line`, :class:`AnswerLines` for a
run) and how a batch of finished lines is written (:func:`write_lines`: one ``write`` in JSON
mode). Audit lines are written the same way.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, NamedTuple, TextIO

import orjson
import structlog

from bridge.access_records import KNOWN_METHODS, AccessRecord, Answers
from bridge.log import LogOutput, current_output, json_text, line_timestamp, redact

#: the keys of the access and audit lines: none is sensitive (tested), so a batch of lines
#: with only these keys needs redacting only where its text has something JWT-shaped
SAFE_LINE_KEYS = frozenset(
    {"event", "logger", "level", "timestamp", "request_id", "method", "route", "status",
     "duration_ms", "target", "subject", "reason", "pid", "kind", "staff", "id", "verdict",
     "source", "login", "path"}
)  # fmt: skip


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
        # once: keeping a batch's separate bytes objects alive until a join makes orjson's
        # allocations slower (docs/performance.md).
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
