"""The token path's steps (:mod:`bridge.http.pipeline`) over a batch of the common request,
on aiohttp's low-level server, in front of the application.

The common request is the one shape a widget sends many times a minute:

* ``GET /generate/token`` or ``GET /v1/targets/{name}/token`` for a target signed here (the
  paths :func:`~bridge.http.pipeline.batched_paths` gives: the path exactly, no query), over
  HTTP/1.0 or 1.1, without a body, asking for JSON;
* a login cookie whose token this worker has verified before and that still holds (the
  verifiers' cache, with ``exp`` checked again to the second);
* Fetch Metadata that allows it, both rate limits allowing it, the target's claims available
  (an email where the vendor needs one), and the instance not draining.

Anything else is handed to the application untouched, as if this module did not exist: up to
the limits, the steps have no side effects, and a request the limits refuse is not counted
(the application then counts and refuses it), so the application's answer to a refused or
unusual request is exactly what it would have been. From the limits on, the request is this
module's: its answer is the application's, header for header (the same renderer and the
edge middleware's headers), and an unexpected error while minting or rendering gets the same
JSON 500, request id and access record as the application gives. ``tests/api/test_fastpath.py``
sends the same requests to a gateway with and without this module and compares the answers.

What it saves is aiohttp's application machinery per request (the route resolution, the
``web.Request`` mapping, the middleware chain, the response signals).
:func:`bridge.app.install_fast_path` puts it in front of an ``AppRunner``'s handler
(``Server.request_handler``), which ``bridge serve`` and the tests' clients both do.

The requests are taken in batches. A handler only queues its request and waits; the first
one of a batch schedules :meth:`FastTokens._answer_waiting` for the event loop's next turn,
which takes every request queued by then (up to :data:`BATCH`) through the steps, each step
for the whole batch before the next, and hands each handler its answer (or None: the app's to
answer). The requests that one turn of the loop reads from many connections then run this
module's Python back to back, which keeps its code in the CPU's caches
(docs/performance.md). Each request still gets its own identity, token, limits decision and
access record (the records of a batch's answers go to :mod:`bridge.access` as runs that share
a route, target and login system: :class:`~bridge.access_records.Answers`); what it costs is
one more turn of the loop per request, which the request's duration in its access record
includes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from time import perf_counter
from typing import NamedTuple

from aiohttp import HttpVersion10, HttpVersion11, hdrs, web

from bridge.access import AccessRecords
from bridge.access_records import REQUEST_ID_HEADER, AccessRecord, Answers, request_id_for
from bridge.errors import BridgeError
from bridge.forwarded import PROXY_HEADERS
from bridge.http.cors import ActualCors
from bridge.http.fetchmeta import check_fetch_metadata
from bridge.http.middleware import error_answer
from bridge.http.pipeline import (
    GENERATE_ROUTE,
    TARGET_ROUTE,
    AnswerHeaders,
    bare,
    batched_paths,
    client_address,
    limit_checks,
    render,
)
from bridge.login.cookies import read_cookie
from bridge.login.identity import Identity
from bridge.login.systems import LoginSystems
from bridge.ratelimit import RateLimits
from bridge.state import LowLevelHandler
from bridge.targets.base import Signer, Target

_HTTP_1 = (HttpVersion10, HttpVersion11)
#: requests taken through the steps in one go at most: the first answers of a large batch
#: are not held back by the last ones' work
BATCH = 64


class FastTokens:
    """Runs the token path's steps over batches of the common request (see the module's
    text); :meth:`wrap` puts it in front of the application's handler. Bound at start-up
    (:meth:`bind`)."""

    def __init__(
        self,
        targets: Mapping[str, Target],
        *,
        default: str,
        cors: ActualCors,
        records: AccessRecords,
        draining: asyncio.Event,
        screen_proxied: bool = False,
    ) -> None:
        """``screen_proxied``: a request that came through a proxy goes to the application,
        whose edge middleware refuses it (a gateway with development secrets)."""
        #: raw path -> (signer, whether the answer is /generate/token's shape)
        self._paths = batched_paths(targets, default)
        self._screen = screen_proxied
        self._origins = cors.origins
        self._headers = AnswerHeaders(cors)
        self._records = records if records.wanted else None
        #: requests waiting for the next batch (:meth:`_answer_waiting`), in arrival order
        self._waiting: list[_Waiting] = []
        self._draining = draining
        #: requests answered here, and batches taken: what ``FastPath`` offers the runner, so
        #: that a test (or an operator's debugger) can tell which way a request went
        self.answered = 0
        self.batches = 0

    # set by bind(), at start-up, before any request
    _systems: LoginSystems
    _limits: RateLimits
    _cookie: str | None = None

    def bind(self, systems: LoginSystems, limits: RateLimits) -> None:
        self._systems, self._limits = systems, limits
        # with several cookie names, which one wins is the application's to decide
        self._cookie = systems.cookies[0] if len(systems.cookies) == 1 else None

    def wrap(self, app_handler: LowLevelHandler) -> LowLevelHandler:
        """The handler to serve: this module's answer where it has one, else the app's."""
        paths = self._paths
        waiting = self._waiting
        answer_waiting = self._answer_waiting
        answer_one = self._answer_one
        screen = self._screen

        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            found = paths.get(request.raw_path)
            if (
                found is not None
                and request.method == hdrs.METH_GET
                and not (screen and _proxied(request.headers))
            ):
                loop = asyncio.get_running_loop()
                answer: _Answer = loop.create_future()
                if not waiting:  # the first of this batch: answer them all once they're in
                    loop.call_soon(answer_waiting)
                waiting.append((perf_counter(), request, found, answer))
                outcome = await answer
                if isinstance(outcome, web.StreamResponse):
                    return outcome
                if outcome is not None and await outcome.allowed:  # shared limits (Redis)
                    return answer_one(outcome.known)
                # refused (nothing was counted) or not the common request: the app answers
            return await app_handler(request)

        return handle

    def _answer_waiting(self) -> None:
        """Take the requests that arrived since the last batch (at most :data:`BATCH` of
        them; the rest are the next batch's) through the steps: each step for the whole batch
        before the next one. A request that a step before the limits does not pass leaves the
        batch with None, for the app to answer; the limits count only the requests that every
        step before them passed."""
        waiting = self._waiting
        batch = waiting[:BATCH]
        del waiting[:BATCH]
        if waiting:
            asyncio.get_running_loop().call_soon(self._answer_waiting)
        self.batches += 1
        try:
            self._answer_batch(batch)
        finally:
            # whatever went wrong on the way, no request is left waiting: the app answers it
            for *_, answer in batch:
                if not answer.done():
                    answer.set_result(None)

    def _answer_batch(self, batch: list[_Waiting]) -> None:
        known = self._identify(batch)  # screen, identify, address
        limits = self._limits
        allowed: list[_Known] = []
        for item in known:
            answer, identity, address = item[4], item[5], item[6]
            try:
                decision = limits.admit(*limit_checks(address, identity.sub))
            except Exception:
                answer.set_result(None)
                continue
            if decision is True:
                allowed.append(item)
            elif decision is False:  # refused: the application counts and answers the 429
                answer.set_result(None)
            else:  # a task, so that the Redis call runs (and ends) whatever becomes of the handler
                answer.set_result(_Deferred(asyncio.ensure_future(decision), item))
        respond, record = self._respond, self._record
        now = time.time()
        # mint, render, headers; the answers' records in runs of one signer, answer shape and
        # login system (usually the whole batch), each run recorded at once
        run: list[tuple[str, float, str | None]] = []
        run_of: tuple[Signer, bool, str | None] | None = None
        for item in allowed:
            started, request, signer, generate, answer, identity, _ = item
            request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
            try:
                response = respond(request, request_id, signer, generate, identity)
            except Exception as error:
                answer.set_result(self._failed(item, request_id, error))
                continue
            answer.set_result(response)
            login = identity.login
            if run_of is None or (
                signer is not run_of[0] or generate is not run_of[1] or login != run_of[2]
            ):
                if run_of is not None:
                    record(now, *run_of, run)
                run, run_of = [], (signer, generate, login)
            run.append((request_id, perf_counter() - started, identity.sub))
        if run_of is not None:
            record(now, *run_of, run)

    def _answer_one(self, item: _Known) -> web.Response:
        """A request the shared limits allowed: mint, render, headers, record."""
        started, request, signer, generate, _, identity, _ = item
        request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
        try:
            response = self._respond(request, request_id, signer, generate, identity)
        except Exception as error:
            return self._failed(item, request_id, error)
        entry = (request_id, perf_counter() - started, identity.sub)
        self._record(time.time(), signer, generate, identity.login, [entry])
        return response

    def _identify(self, batch: list[_Waiting]) -> list[_Known]:
        """The batch's requests that pass the steps before the limits (screen, a known login
        token that still holds, the client's address), with their identity and address; the
        others leave with None."""
        cookie = self._cookie
        if cookie is None or self._draining.is_set():
            for *_, answer in batch:
                if not answer.done():
                    answer.set_result(None)
            return []
        systems, origins, addresses = self._systems, self._origins, self._limits.addresses
        known: list[_Known] = []
        for started, request, (signer, generate), answer in batch:
            if answer.done():  # its handler was cancelled (the instance is stopping)
                continue
            try:
                if request.version not in _HTTP_1 or request.body_exists:
                    raise _NotCommon()
                headers = request.headers
                check_fetch_metadata(headers, origins)
                token = read_cookie(headers.getall(hdrs.COOKIE, ()), cookie)
                identity = systems.cached_identity(token, cookie=cookie)
                if identity is None or (signer.needs_email and identity.email is None):
                    raise _NotCommon()
                if bare(signer, generate, headers):  # the JWT alone: the app's to answer
                    raise _NotCommon()
                address = client_address(addresses, request)
            except Exception:
                # not the common request, a refusal, or something unexpected: nothing has been
                # counted, so the application answers it (and logs what it did not expect)
                answer.set_result(None)
            else:
                known.append((started, request, signer, generate, answer, identity, address))
        return known

    def _respond(
        self,
        request: web.BaseRequest,
        request_id: str,
        signer: Signer,
        generate: bool,
        identity: Identity,
    ) -> web.Response:
        """Mint, render and the headers, once the limits allowed the request."""
        body = render(signer, generate, signer.sign(identity))
        response = web.Response(
            body=body, headers=self._headers.of(request.headers.get(hdrs.ORIGIN))
        )
        response.headers[REQUEST_ID_HEADER] = request_id
        return response

    def _failed(self, item: _Known, request_id: str, error: Exception) -> web.Response:
        """The application's answer to an error while minting or rendering (a refusal the
        target makes, or an unexpected error: the JSON 500), with its access record."""
        started, request, signer, generate, _, identity, _ = item
        response = error_answer(request.method, request.rel_url.path, error)
        reason = error.reason if isinstance(error, BridgeError) else None
        self._headers.add_to(response.headers, request.headers.get(hdrs.ORIGIN))
        response.headers[REQUEST_ID_HEADER] = request_id
        self.answered += 1
        if self._records is not None:
            route = GENERATE_ROUTE if generate else TARGET_ROUTE
            self._records.add(
                AccessRecord(
                    time.time(), request_id, request.method, route, response.status,
                    perf_counter() - started, signer.name, identity.sub, reason, identity.login,
                    None,
                )
            )  # fmt: skip
        return response

    def _record(
        self,
        now: float,
        signer: Signer,
        generate: bool,
        login: str | None,
        entries: list[tuple[str, float, str | None]],
    ) -> None:
        """The access records of answers from one signer, in one shape, to users of one login
        system: each request's id, seconds so far and subject."""
        self.answered += len(entries)
        if self._records is not None:
            route = GENERATE_ROUTE if generate else TARGET_ROUTE
            answers = Answers(now, hdrs.METH_GET, route, 200, signer.name, login, entries)
            self._records.add_answers(answers)


#: a request in the queue for the next batch: when it arrived, the request, its path's signer
#: and answer shape, and where its handler waits for the outcome (a plain tuple: one is made
#: per request)
_Waiting = tuple[float, web.BaseRequest, tuple[Signer, bool], "_Answer"]

#: a request that passed every step before the limits: the waiting request's members, its
#: identity and its client address
_Known = tuple[float, web.BaseRequest, Signer, bool, "_Answer", Identity, str]


class _Deferred(NamedTuple):
    """A request the shared (Redis) limits decide on: answered here if they allow it."""

    allowed: asyncio.Future[bool]
    known: _Known


class _NotCommon(Exception):
    """A request that is not the common one: the application answers it."""


#: what a waiting request's handler gets from its batch: the answer; a request whose shared
#: limits' decision is still on its way; or None for the application to answer
_Outcome = web.StreamResponse | _Deferred | None
_Answer = asyncio.Future[_Outcome]


def _proxied(headers: Mapping[str, str]) -> bool:
    return any(name in headers for name in PROXY_HEADERS)
