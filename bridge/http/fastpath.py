"""The token routes' common request, answered on aiohttp's low-level server.

Every request reaches the application (router, the edge middleware, the token handler) unless
it is the one shape a widget sends many times a minute, which is answered here first:

* ``GET /generate/token`` or ``GET /v1/targets/{name}/token`` for a configured target that
  signs its tokens itself (the path exactly, no query), over HTTP/1.0 or 1.1, without a body;
* a login cookie whose token this worker has verified before and that still holds (the
  verifier's cache, with ``exp`` checked again to the second);
* Fetch Metadata that allows it, both rate limits allowing it, the target's claims available
  (an email where the vendor needs one), and the instance not draining.

Anything else, and anything that fails on the way, is handed to the application untouched, as
if this module did not exist: it checks nothing that has side effects before it knows it will
answer (the rate limits are counted last, and only when they allow the request), so the
application's answer to a refused or unusual request is exactly what it would have been. What
an answer from here holds is what the application would answer, header for header: the token
(signed anew with the current time), ``X-Request-ID``, ``nosniff``, ``no-store``,
``Vary: Origin`` and a listed origin's CORS headers; and the request gets the same access
record (its line and metrics) as any other. ``tests/api/test_fastpath.py`` sends the same
requests to a gateway with and without this module and compares the answers.

What it saves is aiohttp's application machinery per request (the route resolution, the
``web.Request`` mapping, the middleware chain, the response signals) and the token handler's
general steps, which is most of a token request's time besides aiohttp's own parsing and
writing. :func:`bridge.app.install_fast_path` puts it in front of an ``AppRunner``'s handler
(``Server.request_handler``), which ``bridge serve`` and the tests' clients both do.

The requests are taken in batches. A handler only queues its request and waits; the first
one of a batch schedules :meth:`FastTokens._answer_waiting` for the event loop's next turn,
which takes every request queued by then (up to :data:`BATCH`) through the steps, each step
for the whole batch before the next, and hands each handler its answer (or None: the app's to
answer). Under load, the requests that one turn of the loop reads from many connections then
run this module's Python back to back instead of each between the kernel's sends and aiohttp's
writing, which evict it from the CPU's caches: the same work costs about half as much. Each
request still gets its own identity, token, limits decision and access record (the
records of a batch's answers go to :mod:`bridge.access` as runs that share a route, target
and login system: :class:`~bridge.access.Answers`); what it costs is one more turn of the loop
per request (tens of microseconds at most, and the request's duration in its access record
includes it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from time import perf_counter
from typing import NamedTuple

import orjson
from aiohttp import HttpVersion10, HttpVersion11, hdrs, web
from multidict import CIMultiDict

from bridge.access import REQUEST_ID_HEADER, AccessRecords, Answers, request_id_for
from bridge.forwarded import PROXY_HEADERS
from bridge.http.cors import ActualCors
from bridge.http.fetchmeta import check_fetch_metadata
from bridge.http.middleware import STANDARD_HEADERS
from bridge.http.tokens import wants_jwt
from bridge.login.cookies import read_cookie
from bridge.login.identity import Identity
from bridge.login.systems import LoginSystems
from bridge.ratelimit import ADDRESS, SUBJECT, RateLimits
from bridge.state import LowLevelHandler
from bridge.targets.base import Broker, MintedToken, Signer

GENERATE_ROUTE = "/generate/token"
TARGET_ROUTE = "/v1/targets/{name}/token"
_HTTP_1 = (HttpVersion10, HttpVersion11)
#: requests taken through the steps in one go at most: the first answers of a large batch
#: are not held back by the last ones' work
BATCH = 64
_JSON = "application/json"


class FastTokens:
    """Answers the token routes' common request (see the module's text); :meth:`wrap` puts
    it in front of the application's handler. Bound at start-up (:meth:`bind`)."""

    def __init__(
        self,
        signers: Mapping[str, Signer],
        *,
        default: str,
        cors: ActualCors,
        records: AccessRecords,
        draining: asyncio.Event,
        screen_proxied: bool = False,
    ) -> None:
        """``screen_proxied``: a request that came through a proxy goes to the application,
        whose edge middleware refuses it (a gateway with development secrets)."""
        # raw path -> (signer, whether the answer is /generate/token's shape)
        self._paths: dict[str, tuple[Signer, bool]] = {}
        if not isinstance(signers[default], Broker):
            self._paths[GENERATE_ROUTE] = (signers[default], True)
        for name, signer in signers.items():
            if isinstance(signer, Broker) or signer.type == "zendesk_sso":
                continue
            # a name that needs percent-encoding never arrives as it is: the app answers it
            self._paths[f"/v1/targets/{name}/token"] = (signer, False)
        self._screen = screen_proxied
        self._origins = cors.origins
        # the headers the edge middleware and ActualCors give a token answer, one multidict per
        # listed origin (and one for any other Origin, or none): aiohttp copies a multidict
        # faster than it builds one from a dict
        base: dict[str, str] = {
            hdrs.CONTENT_TYPE: _JSON,
            **dict(STANDARD_HEADERS),
            hdrs.VARY: "Origin",
        }
        self._plain: CIMultiDict[str] = CIMultiDict(base)
        self._by_origin = {
            origin: CIMultiDict({**base, **dict(cors.headers_for(origin))})
            for origin in cors.origins
        }
        self._records = records if records.wanted else None
        #: requests waiting for the next batch (:meth:`_answer_waiting`), in arrival order
        self._waiting: list[_Waiting] = []
        self._draining = draining
        #: requests answered here, and batches taken (tests read them to know what answered)
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
        respond, record = self._respond, self._record
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
                    started, signer, generate, identity, minted = outcome.allowed_answer
                    request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
                    response = respond(request, request_id, signer, generate, minted)
                    entry = (request_id, perf_counter() - started, identity.sub)
                    record(time.time(), signer, generate, identity.login, [entry])
                    return response
                # refused (nothing was counted) or not the common request: the app answers
            return await app_handler(request)

        return handle

    def _answer_waiting(self) -> None:
        """Take the requests that arrived since the last batch (at most :data:`BATCH` of
        them; the rest are the next batch's) through the steps: each step for the whole batch
        before the next one, so that its code stays in the CPU's caches. A request that a step
        does not pass leaves the batch with None, for the app to answer; the rate limits count
        only the requests that every step before them passed."""
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
        known = self._identify(batch)
        signed: list[tuple[_Known, MintedToken]] = []
        for item in known:
            _, _, signer, _, answer, identity, _ = item
            try:
                signed.append((item, signer.sign(identity)))
            except Exception:  # the app's to answer (and to log, if it was unexpected)
                answer.set_result(None)
        limits = self._limits
        allowed: list[tuple[_Known, MintedToken]] = []
        for item, minted in signed:
            started, _, signer, generate, answer, identity, address = item
            try:
                decision = limits.admit((ADDRESS, address), (SUBJECT, identity.sub))
            except Exception:
                answer.set_result(None)
                continue
            if decision is True:
                allowed.append((item, minted))
            elif decision is False:  # refused: the application answers the 429
                answer.set_result(None)
            else:  # a task, so that the Redis call runs (and ends) whatever becomes of the handler
                answer.set_result(
                    _Deferred(
                        asyncio.ensure_future(decision),
                        (started, signer, generate, identity, minted),
                    )
                )
        respond, record = self._respond, self._record
        now = time.time()
        # the answers' records, in runs of one signer, answer shape and login system (usually
        # the whole batch), each run recorded at once
        run: list[tuple[str, float, str | None]] = []
        run_of: tuple[Signer, bool, str | None] | None = None
        for (started, request, signer, generate, answer, identity, _), minted in allowed:
            try:
                request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
                response = respond(request, request_id, signer, generate, minted)
            except Exception as error:  # the handler raises it, as it would have raised it
                answer.set_exception(error)
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

    def _identify(self, batch: list[_Waiting]) -> list[_Known]:
        """The batch's requests whose login token is known and still holds, that pass every
        check before the rate limits, with their identity and client address; the others
        leave with None."""
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
                if not generate and signer.issues_jwt and wants_jwt(headers):  # the bare JWT
                    raise _NotCommon()
                address = addresses.resolve(
                    request.remote,
                    headers.getall(hdrs.X_FORWARDED_FOR, ()),
                    headers.getall(hdrs.FORWARDED, ()),
                )
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
        minted: MintedToken,
    ) -> web.Response:
        """The answer, once the rate limits allowed the request."""
        if generate:
            # a JWT is base64url and dots: nothing in it needs escaping in JSON
            body = b'{"token":"' + minted.token.encode() + b'"}'
        else:
            answer = {"token": minted.token, "target": signer.name, "expires_at": minted.expires_at}
            if minted.extra:
                answer.update(minted.extra)
            body = orjson.dumps(answer)
        origin = request.headers.get(hdrs.ORIGIN)
        fields = self._by_origin.get(origin, self._plain) if origin is not None else self._plain
        response = web.Response(body=body, headers=fields)
        response.headers[REQUEST_ID_HEADER] = request_id
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


class _Deferred(NamedTuple):
    """A request the shared (Redis) rate limits decide on: answered here if they allow it."""

    allowed: asyncio.Future[bool]
    #: what :meth:`FastTokens._respond` needs besides the request
    allowed_answer: tuple[float, Signer, bool, Identity, MintedToken]


#: a request that passed every check before the rate limits: the waiting request's members,
#: its identity and its client address
_Known = tuple[float, web.BaseRequest, Signer, bool, "_Answer", Identity, str]


class _NotCommon(Exception):
    """A request that is not the common one: the application answers it."""


#: what a waiting request's handler gets from its batch: the answer; a request whose shared
#: limits' decision is still on its way; or None for the application to answer
_Outcome = web.StreamResponse | _Deferred | None
_Answer = asyncio.Future[_Outcome]


def _proxied(headers: Mapping[str, str]) -> bool:
    return any(name in headers for name in PROXY_HEADERS)
