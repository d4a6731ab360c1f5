"""The staff lookups over HTTP.

    GET /v1/visitors/{visitor_id}                 Zendesk Chat visitor -> login user
    GET /v1/login-users/{login_user_id}/zendesk   login user -> Zendesk Support users
    GET /v1/login-users/{login_user_id}           login user -> every configured lookup
    GET /v1/login-users/{login_user_id}/{name}    login user -> one configured lookup

A request reads: :class:`~bridge.staff.StaffAuth` (a staff API key, or a login cookie whose
token, from one of ``staff.login_systems``, carries ``staff.login_group``) -> the staff limit
-> the lookup from :mod:`bridge.zendesk` (which validates the id before any cache or Zendesk
access) -> JSON -> one ``bridge.audit`` line (structured: kind, staff, id, verdict, source,
duration_ms, request_id; and ``lookups``, the names of the tools asked). Nothing is read from
the cache and nothing is asked of a vendor before authentication succeeds.

A lookup whose API is not configured (no ``zendesk_chat_api`` / ``zendesk_support_api``)
answers 503 ``lookup_not_configured`` to authenticated staff: the gateway exists and the
route is right, this deployment just cannot answer it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import hdrs, web

from bridge.access import AccessRecords
from bridge.errors import BridgeError, LookupNotConfigured
from bridge.lookups.everywhere import Answer, SupportTools
from bridge.ratelimit import STAFF_LIMIT, RateLimits
from bridge.staff import StaffAuth
from bridge.state import REQUEST_ID, SUBJECT
from bridge.zendesk.users import LOGIN_USER_ID, LoginUserLookup
from bridge.zendesk.visitors import VISITOR_ID, VisitorLookup

#: the logger name of the audit lines: one per staff lookup, written with the access lines
AUDIT_LOGGER = "bridge.audit"

#: what a lookup gives the handler: the answer, whether it is linked, and its source
Outcome = tuple[dict[str, Any], bool, str]


def _safe_id(ident: str, pattern: re.Pattern[str]) -> str:
    """The id for the audit line when it is well-formed, else a placeholder (no injection)."""
    return ident if pattern.fullmatch(ident) and ".." not in ident else "<invalid>"


class StaffHandlers:
    """``get_visitor`` and ``get_login_user``, bound at start-up (:meth:`bind`) to the
    authentication, the limits and the lookups that exist then."""

    def __init__(self, records: AccessRecords) -> None:
        self._records = records

    # set by bind(), at start-up, before any request
    _auth: StaffAuth
    _limits: RateLimits
    _visitors: VisitorLookup | None
    _login_users: LoginUserLookup | None
    _tools: SupportTools

    def bind(
        self,
        auth: StaffAuth,
        limits: RateLimits,
        *,
        visitors: VisitorLookup | None,
        login_users: LoginUserLookup | None,
        tools: SupportTools | None = None,
    ) -> None:
        self._auth, self._limits = auth, limits
        self._visitors, self._login_users = visitors, login_users
        self._tools = tools or SupportTools({})

    async def get_login_user_everywhere(self, request: web.Request) -> web.Response:
        """``GET /v1/login-users/{login_user_id}[?email=E]``: every configured lookup."""
        return await self._tool_lookup(request, None)

    async def get_login_user_in(self, request: web.Request) -> web.Response:
        """``GET /v1/login-users/{login_user_id}/{name}[?email=E]``: one configured lookup."""
        return await self._tool_lookup(request, request.match_info["name"])

    async def _tool_lookup(self, request: web.Request, name: str | None) -> web.Response:
        login_user_id = request.match_info["login_user_id"]
        tools = self._tools
        asked: list[str] = []

        async def run() -> Outcome:
            if name is not None and name not in tools:
                raise _UnknownLookup(reason="unknown_lookup")
            asked.extend(tools.lookups if name is None else [name])
            answer = await tools.ask(login_user_id, request.query.get("email"), asked)
            return answer.as_json(), bool(answer.found), _answer_source(answer)

        kind = "login_user_tools" if name is None else "login_user_tool"
        return await self._lookup(request, kind, login_user_id, LOGIN_USER_ID, run, asked)

    async def get_visitor(self, request: web.Request) -> web.Response:
        """``GET /v1/visitors/{visitor_id}``."""
        visitor_id = request.match_info["visitor_id"]

        async def run() -> Outcome:
            if self._visitors is None:
                raise LookupNotConfigured(reason="zendesk_chat_api_not_configured")
            verdict = await self._visitors.lookup(visitor_id)
            return verdict.as_json(), verdict.linked, verdict.source

        return await self._lookup(request, "visitor", visitor_id, VISITOR_ID, run)

    async def get_login_user(self, request: web.Request) -> web.Response:
        """``GET /v1/login-users/{login_user_id}/zendesk``."""
        login_user_id = request.match_info["login_user_id"]

        async def run() -> Outcome:
            if self._login_users is None:
                raise LookupNotConfigured(reason="zendesk_support_api_not_configured")
            linkage = await self._login_users.lookup(login_user_id)
            return linkage.as_json(), linkage.linked, linkage.source

        return await self._lookup(request, "login_user", login_user_id, LOGIN_USER_ID, run)

    async def _lookup(
        self,
        request: web.Request,
        kind: str,
        ident: str,
        pattern: re.Pattern[str],
        run: Callable[[], Awaitable[Outcome]],
        asked: list[str] | None = None,
    ) -> web.Response:
        started = time.perf_counter()
        staff = "-"
        verdict = "error"
        source = "-"
        try:
            headers = request.headers
            staff = await self._auth.authenticate(
                headers.get(hdrs.AUTHORIZATION), headers.getall(hdrs.COOKIE, ())
            )
            request[SUBJECT] = staff  # the access line names the staff caller too
            await self._limits.check((STAFF_LIMIT, staff))
            body, linked, source = await run()
            verdict = (
                ("found" if linked else "not_found")
                if asked is not None
                else ("linked" if linked else "unlinked")
            )
            return web.Response(body=orjson.dumps(body), content_type="application/json")
        except BridgeError as exc:
            verdict = exc.code
            source = getattr(exc, "source", source)
            raise
        finally:
            self._records.add_line(
                {
                    "event": "staff lookup",
                    "logger": AUDIT_LOGGER,
                    "request_id": request.get(REQUEST_ID),
                    "kind": kind,
                    "staff": staff,
                    "id": _safe_id(ident, pattern),
                    "verdict": verdict,
                    "source": source,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    **({"lookups": asked} if asked is not None else {}),
                }
            )


class _UnknownLookup(BridgeError):
    """A lookup name that is not configured: 404 ``lookup_not_configured``."""

    status = 404
    code = LookupNotConfigured.code
    description = "No lookup of that name is configured on this gateway"


def _answer_source(answer: Answer) -> str:
    """``cache`` when every member came from the cache, ``vendor`` when any asked a vendor."""
    sources = answer.sources
    if not sources:
        return "-"
    return "cache" if sources == {"cache"} else "vendor"
