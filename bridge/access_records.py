"""What is kept of each request for its access line and metrics: :class:`AccessRecord`, a
run of them (:class:`Answers`), and the request id, route and path they hold.

What a record may hold is decided here, not hoped for: the route is the matched resource's
pattern (``/v1/targets/{name}/token``), never the raw path or query; a request that no route
matched has the route ``(unmatched)`` and its ``path`` (:func:`unmatched_path`: no query, URL
characters only, cut short); the method is a known one or ``OTHER`` (in its line); target,
subject, reason and login (the login system's configured short name) are set by the gateway
after verification. Nothing reads a header value into a record except the validated request
id (:func:`request_id_for`).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from typing import NamedTuple

from aiohttp import web

REQUEST_ID_HEADER = "X-Request-ID"
#: accepted incoming request ids: UUIDs, hex, W3C trace ids and the like; at most 64 chars
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+-]{0,63}")
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: successful probe answers are counted but not logged (a probe every few seconds is noise)
PROBE_ROUTES = frozenset({"/healthz", "/readyz"})
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
