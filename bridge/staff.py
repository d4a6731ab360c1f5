"""The staff lookups over HTTP: authentication, the two handlers, and their wiring.

    GET /v1/visitors/{visitor_id}                 Zendesk Chat visitor -> login user
    GET /v1/login-users/{login_user_id}/zendesk   login user -> Zendesk Support users

A request reads: :class:`StaffAuth` (a staff API key, or a login cookie whose token carries
``staff.login_group``) -> the lookup service from :mod:`bridge.visitors` (which validates the
id before any cache or Zendesk access) -> JSON -> one ``bridge.audit`` line
(structured: kind, staff, id, verdict, source, duration_ms, request_id). Nothing is
read from the cache and nothing is asked of Zendesk before authentication succeeds.

A lookup whose API is not configured (no ``zendesk_chat_api`` / ``zendesk_support_api``)
answers 503 ``lookup_not_configured`` to authenticated staff: the gateway exists and the
route is right, this deployment just cannot answer it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import hdrs, web

from bridge import keys
from bridge.cache import Cache, build_cache
from bridge.errors import BridgeError, StaffUnauthorized, TokenError
from bridge.log import REQUEST_ID, SUBJECT
from bridge.ratelimit import STAFF as STAFF_LIMIT
from bridge.settings import Settings
from bridge.upstream import Identity
from bridge.visitors import (
    LOGIN_USER_ID,
    VISITOR_ID,
    LoginUserLookup,
    VisitorLookup,
    chat_client,
    support_client,
)

#: the logger name of the audit lines: one per staff lookup, written with the access lines
AUDIT_LOGGER = "bridge.audit"

Verify = Callable[[str], Awaitable[Identity]]


class LookupNotConfigured(BridgeError):
    status = 503
    code = "lookup_not_configured"
    description = "This lookup is not configured on this gateway"


class StaffAuth:
    """Decides who the staff caller is, or raises :class:`StaffUnauthorized`.

    API keys are compared as SHA-256 digests with ``hmac.compare_digest`` against *every*
    configured key (no early exit, equal lengths), and the caller is named by the key's
    position (``key#1``), never by the key.
    """

    def __init__(
        self,
        api_keys: Sequence[bytes],
        *,
        login_group: str | None = None,
        verify: Verify | None = None,
    ) -> None:
        self._digests = [hashlib.sha256(key).digest() for key in api_keys]
        self._login_group = login_group if verify is not None else None
        self._verify = verify

    @property
    def accepts_login_cookie(self) -> bool:
        return self._login_group is not None

    def _key_index(self, candidate: str) -> int:
        """1-based index of the matching key, 0 for none; always compares with all keys."""
        digest = hashlib.sha256(candidate.encode("utf-8", "surrogateescape")).digest()
        found = 0
        for index, known in enumerate(self._digests, start=1):
            if hmac.compare_digest(digest, known) and not found:
                found = index
        return found

    def authenticate_key(self, authorization: str) -> str:
        """``key#N`` for an ``Authorization: Bearer`` staff key (no coroutine: nothing to
        await); :class:`StaffUnauthorized` otherwise."""
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise StaffUnauthorized(reason="bad_authorization_header")
        index = self._key_index(credential)
        if not index:
            raise StaffUnauthorized(reason="unknown_staff_key")
        return f"key#{index}"

    async def authenticate(self, authorization: str | None, login_token: str | None) -> str:
        """The staff identifier for the audit log: ``key#N`` or ``login:{sub}``."""
        if authorization is not None:
            return self.authenticate_key(authorization)
        if login_token and self._login_group is not None and self._verify is not None:
            try:
                identity = await self._verify(login_token)
            except TokenError:
                raise StaffUnauthorized(reason="invalid_login_token") from None
            if not _in_group(identity.claims.get("groups"), self._login_group):
                raise StaffUnauthorized(reason="not_in_staff_group")
            sub = identity.sub
            if LOGIN_USER_ID.fullmatch(sub) is None:  # keep odd subjects out of log lines
                sub = "#" + hashlib.sha256(sub.encode()).hexdigest()[:12]
            return f"login:{sub}"
        raise StaffUnauthorized(reason="no_staff_credentials")


def _in_group(groups: Any, name: str) -> bool:
    """Xsolla Login's ``groups`` claim: an array of ``{id, name, is_default}``."""
    if not isinstance(groups, list):
        return False
    return any(isinstance(group, dict) and group.get("name") == name for group in groups)


@dataclass
class StaffServices:
    auth: StaffAuth
    cookie: str
    visitors: VisitorLookup | None
    login_users: LoginUserLookup | None


def _safe_id(ident: str, pattern: re.Pattern[str]) -> str:
    """The id for the audit line when it is well-formed, else a placeholder (no injection)."""
    return ident if pattern.fullmatch(ident) and ".." not in ident else "<invalid>"


async def _staff_lookup(
    request: web.Request,
    *,
    kind: str,
    ident: str,
    pattern: re.Pattern[str],
    run: Callable[[StaffServices], Awaitable[tuple[dict[str, Any], bool, str]]],
) -> web.Response:
    services = request.app[keys.STAFF]
    started = time.perf_counter()
    staff = "-"
    verdict = "error"
    source = "-"
    try:
        authorization = request.headers.get(hdrs.AUTHORIZATION)
        if authorization is not None:  # a staff key: checked without awaiting
            staff = services.auth.authenticate_key(authorization)
        else:
            login_token = (
                request.cookies.get(services.cookie) if services.auth.accepts_login_cookie else None
            )
            staff = await services.auth.authenticate(None, login_token)
        request[SUBJECT] = staff  # the access log names the staff caller too
        limits = request.app[keys.RATE_LIMITS]
        if not limits.check_all_now([(STAFF_LIMIT, staff)]):
            await limits.check(STAFF_LIMIT, staff)
        body, linked, source = await run(services)
        verdict = "linked" if linked else "unlinked"
        return web.Response(body=orjson.dumps(body), content_type="application/json")
    except BridgeError as exc:
        verdict = exc.code
        source = getattr(exc, "source", source)
        raise
    finally:
        request.app[keys.RECORDS].add_line(
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
            }
        )


async def get_visitor(request: web.Request) -> web.Response:
    """``GET /v1/visitors/{visitor_id}``."""
    visitor_id = request.match_info["visitor_id"]

    async def run(services: StaffServices) -> tuple[dict[str, Any], bool, str]:
        if services.visitors is None:
            raise LookupNotConfigured(reason="zendesk_chat_api_not_configured")
        verdict = await services.visitors.lookup(visitor_id)
        return verdict.as_json(), verdict.linked, verdict.source

    return await _staff_lookup(
        request, kind="visitor", ident=visitor_id, pattern=VISITOR_ID, run=run
    )


async def get_login_user_zendesk(request: web.Request) -> web.Response:
    """``GET /v1/login-users/{login_user_id}/zendesk``."""
    login_user_id = request.match_info["login_user_id"]

    async def run(services: StaffServices) -> tuple[dict[str, Any], bool, str]:
        if services.login_users is None:
            raise LookupNotConfigured(reason="zendesk_support_api_not_configured")
        linkage = await services.login_users.lookup(login_user_id)
        return linkage.as_json(), linkage.linked, linkage.source

    return await _staff_lookup(
        request, kind="login_user", ident=login_user_id, pattern=LOGIN_USER_ID, run=run
    )


def _staff_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        metrics = app.get(keys.METRICS)
        cache: Cache = build_cache(
            settings.redis, max_entries=settings.cache.max_entries, metrics=metrics
        )
        session = app[keys.HTTP_SESSION]
        ttl, negative_ttl = settings.cache.visitor_ttl, settings.cache.negative_ttl
        visitors = login_users = None
        if settings.zendesk_chat_api is not None:
            visitors = VisitorLookup(
                chat_client(session, settings.zendesk_chat_api, metrics=metrics),
                cache,
                ttl=ttl,
                negative_ttl=negative_ttl,
                metrics=metrics,
            )
        if settings.zendesk_support_api is not None:
            login_users = LoginUserLookup(
                support_client(session, settings.zendesk_support_api, metrics=metrics),
                cache,
                ttl=ttl,
                negative_ttl=negative_ttl,
                metrics=metrics,
            )

        async def verify(token: str) -> Identity:
            return await app[keys.VERIFIER].verify(token)

        auth = StaffAuth(
            [key.secret.reveal() for key in settings.staff.api_keys],
            login_group=settings.staff.login_group,
            verify=verify,
        )
        app[keys.CACHE] = cache
        app[keys.STAFF] = StaffServices(auth, settings.upstream.cookie, visitors, login_users)
        try:
            yield
        finally:
            for service in (visitors, login_users):
                if service is not None:
                    await service.close()
            await cache.close()

    return ctx


def setup_staff(app: web.Application, settings: Settings) -> None:
    """Add the staff routes and the resources behind them (created at start-up, closed once).

    Call after the ``HTTP_SESSION`` cleanup context has been appended: this one uses it.
    """
    app.router.add_get("/v1/visitors/{visitor_id}", get_visitor)
    app.router.add_get("/v1/login-users/{login_user_id}/zendesk", get_login_user_zendesk)
    app.cleanup_ctx.append(_staff_ctx(settings))
