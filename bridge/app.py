"""``create_app(settings)``: the one place the application is put together.

It does no I/O. What needs the event loop is built at start-up by one ``cleanup_ctx``
(:func:`_resources`), in dependency order, and closed once at shutdown in the reverse order:

    HTTP session -> Redis (one client, when configured) -> cache and rate limits
    -> brokers -> login verifiers (one per login system, with its key set)
    -> Zendesk lookups -> staff authentication

Every route is registered from one table (:func:`_routes`). The handlers are small objects
built here; the start-up context hands them what they use (``bind``), so no handler reads the
application's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass

import aiohttp
import aiohttp_cors
from aiohttp import web

from bridge import __version__
from bridge.access import AccessRecords
from bridge.cache import build_cache
from bridge.errors import ConfigError
from bridge.http.cors import EXPOSE_HEADERS, ActualCors
from bridge.http.fastpath import FastTokens
from bridge.http.middleware import edge_middleware
from bridge.http.pages import PageHandlers, static_file
from bridge.http.parse_errors import install_safe_parse_errors
from bridge.http.probes import ProbeHandlers
from bridge.http.sso import SsoHandlers
from bridge.http.staff import StaffHandlers
from bridge.http.tokens import TokenHandlers
from bridge.log import install_redaction
from bridge.login.keysets import KeySet
from bridge.login.systems import LoginSystems, verify_cookies
from bridge.login.verifier import Verifier
from bridge.lookups.base import LookupParts
from bridge.lookups.everywhere import SupportTools
from bridge.lookups.registry import build_lookups
from bridge.metrics import Metrics, metrics_handler, metrics_server
from bridge.ratelimit import build_rate_limits
from bridge.redis import SharedRedis
from bridge.settings.hints import development_secrets
from bridge.settings.root import Settings
from bridge.settings.server import demo_problems
from bridge.staff import StaffAuth
from bridge.state import DRAINING, FAST_PATH, RETIRING
from bridge.targets.base import BrokerResources, Target
from bridge.targets.registry import build_targets
from bridge.zendesk.clients import chat_client, support_client
from bridge.zendesk.lookups import zendesk_apis
from bridge.zendesk.users import LoginUserLookup
from bridge.zendesk.visitors import VisitorLookup

USER_AGENT = f"bridge-gateway/{__version__}"
#: room in the Cookie header for the site's other cookies besides the login token
HEADER_MARGIN = 8192

log = logging.getLogger("bridge")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    #: cross-origin pages may call it with credentials (CORS for the listed origins)
    cors: bool = False
    #: the listed origins may read the answer (CORS headers, no preflight: a simple GET)
    readable: bool = False


@dataclass(frozen=True)
class Handlers:
    tokens: TokenHandlers
    fast: FastTokens
    sso: SsoHandlers
    staff: StaffHandlers
    probes: ProbeHandlers
    pages: PageHandlers
    metrics: Metrics | None
    records: AccessRecords


def _routes(settings: Settings, h: Handlers) -> list[Route]:
    """Every route of the gateway, in one table."""
    routes = [
        *(Route(method, path, handler, cors=True) for method, path, handler in h.tokens.routes()),
        Route("GET", "/v1/sso/{name}", h.sso.login),
        Route("GET", "/v1/sso/{name}/logout", h.sso.logout),
        Route("GET", "/v1/visitors/{visitor_id}", h.staff.get_visitor),
        Route("GET", "/v1/login-users/{login_user_id}/zendesk", h.staff.get_login_user),
        Route("GET", "/v1/login-users/{login_user_id}", h.staff.get_login_user_everywhere),
        Route("GET", "/v1/login-users/{login_user_id}/{name}", h.staff.get_login_user_in),
        Route("GET", "/", h.probes.index),
        Route("GET", "/healthz", h.probes.healthz),
        Route("GET", "/readyz", h.probes.readyz),
        Route("GET", "/.well-known/jwks.json", h.probes.jwks),
        # readable: a listed origin's page may load bridge.js with Subresource Integrity
        Route("GET", "/static/{name}", static_file, readable=True),
    ]
    if h.metrics is not None and settings.metrics.port is None:
        # first counts the requests this process has answered but not yet recorded
        handler = metrics_handler(h.metrics, before=h.records.flush)
        routes.append(Route("GET", settings.metrics.path, handler))
    if settings.demo.enabled:
        routes += [
            Route("GET", "/demo", h.pages.demo_page),
            Route("POST", "/demo/login", h.pages.demo_login),
            Route("POST", "/demo/logout", h.pages.demo_logout),
        ]
    if settings.staff_page.enabled:
        routes.append(Route("GET", "/staff", h.pages.staff_page))
    return routes


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def login_systems(
    settings: Settings, session: aiohttp.ClientSession, metrics: Metrics | None = None
) -> LoginSystems:
    """One :class:`Verifier` per login system (with its key set), gathered in one."""
    verifiers = []
    for name, system in settings.login_systems:
        keyset = None
        if system.key_source is not None:
            keyset = KeySet(
                session,
                system.key_source,
                family=system.family,
                cache_ttl=system.keys_cache_ttl,
                refresh_cooldown=system.keys_refresh_cooldown,
                timeout=system.keys_timeout,
                discovery_issuer=system.issuer if system.discovery_url else None,
                name=name,
                metrics=metrics,
            )
        verifiers.append(Verifier(system, keyset=keyset, name=name))
    return LoginSystems(verifiers, [system.issuer for _, system in settings.login_systems])


def _resources(
    settings: Settings, h: Handlers, targets: Mapping[str, Target]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The start-up context: every resource, in dependency order, handed to the handlers
    (and to the brokers, the targets whose vendor issues the credential)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        metrics = h.metrics
        async with AsyncExitStack() as stack:
            session = aiohttp.ClientSession(
                headers={"User-Agent": USER_AGENT},
                timeout=aiohttp.ClientTimeout(total=30, connect=5),
                raise_for_status=False,
                trust_env=False,
            )
            stack.push_async_callback(session.close)

            redis = None
            if settings.redis.mode != "memory":
                redis = SharedRedis.from_settings(settings.redis, metrics=metrics)
                stack.push_async_callback(redis.close)
            cache = build_cache(
                redis, prefix=settings.redis.key_prefix, max_entries=settings.cache.max_entries
            )
            limits = build_rate_limits(settings.rate_limits, redis, metrics=metrics)
            for target in targets.values():
                if target.brokered:
                    target.bind(BrokerResources(session, cache, metrics))
                    stack.push_async_callback(target.close)

            systems = login_systems(settings, session, metrics)
            warm_up = asyncio.create_task(systems.warm_up())  # keys before the first request
            stack.push_async_callback(_cancel, warm_up)

            ttl, negative_ttl = settings.cache.visitor_ttl, settings.cache.negative_ttl
            visitors = login_users = None
            chat_api, support_api = zendesk_apis(settings)
            if chat_api is not None:
                client = chat_client(session, chat_api, metrics=metrics)
                visitors = VisitorLookup(
                    client, cache, ttl=ttl, negative_ttl=negative_ttl, metrics=metrics
                )
                stack.push_async_callback(visitors.close)
            if support_api is not None:
                client = support_client(session, support_api, metrics=metrics)
                login_users = LoginUserLookup(
                    client, cache, ttl=ttl, negative_ttl=negative_ttl, metrics=metrics
                )
                stack.push_async_callback(login_users.close)
            parts = LookupParts(session, cache, metrics, ttl=ttl, negative_ttl=negative_ttl)
            tools = SupportTools(build_lookups(settings.lookups, parts), metrics=metrics)
            stack.push_async_callback(tools.close)

            auth = StaffAuth(
                [key.secret.reveal() for key in settings.staff.api_keys],
                login_group=settings.staff.login_group,
                # checked by the system that verified the token, never by its cookie's name
                login_systems=settings.staff_login_systems,
                verify=functools.partial(verify_cookies, systems),
            )
            h.tokens.bind(systems, limits)
            h.fast.bind(systems, limits)
            h.sso.bind(systems, limits)
            h.staff.bind(auth, limits, visitors=visitors, login_users=login_users, tools=tools)
            h.probes.bind(redis, systems)
            yield

    return ctx


def _setup_cors(
    app: web.Application, settings: Settings, actual: ActualCors, routes: list[web.AbstractRoute]
) -> None:
    """Exact origins with credentials; unlisted origins get no ``Access-Control-*`` at all.

    aiohttp-cors answers the preflights; :class:`~bridge.http.cors.ActualCors` (in the edge
    middleware) adds the headers of the actual answers, so aiohttp-cors's response signal,
    which would add the same headers again, is taken back out.
    """
    options = aiohttp_cors.ResourceOptions(  # type: ignore[no-untyped-call]
        allow_credentials=True,
        allow_headers=("Content-Type", "Accept"),
        allow_methods=("GET", "POST"),
        expose_headers=EXPOSE_HEADERS,
        max_age=settings.cors.max_age,
    )
    signals = len(app.on_response_prepare)
    cors = aiohttp_cors.setup(app, defaults={origin: options for origin in settings.cors.origins})
    del app.on_response_prepare[signals:]
    for route in routes:
        cors.add(route)
        actual.enable(route)


def install_fast_path(runner: web.AppRunner) -> None:
    """Serve ``runner``'s gateway (once set up) with the token routes' fast path in front of
    its application (:mod:`bridge.http.fastpath`): ``bridge serve`` and the tests' clients."""
    server = runner.server
    if server is None:
        raise RuntimeError("the runner is not set up")
    server.request_handler = runner.app[FAST_PATH].wrap(server.request_handler)


def create_app(settings: Settings, *, clock: Callable[[], float] = time.time) -> web.Application:
    """The gateway for ``settings``; raises :class:`ConfigError` for a demo that may not run
    here (a ``--host`` override can make a validated configuration unsafe)."""
    if settings.demo.enabled:
        problems = demo_problems(settings.demo, settings.server, settings.upstream)
        if problems:
            raise ConfigError([f"demo: {problem}" for problem in problems])
    install_redaction()
    install_safe_parse_errors()  # aiohttp's own 400s would quote the Cookie line

    metrics = Metrics() if settings.metrics.enabled else None
    records = AccessRecords(
        metrics, log_requests=settings.log.access, interval=settings.log.access_flush_seconds
    )
    # the example's public development secrets serve this machine's own requests only
    local_only = bool(development_secrets(settings))
    draining = asyncio.Event()  # set on SIGTERM by bridge.serve
    retiring = asyncio.Event()  # set with it when a reload replaces this worker
    cors = ActualCors(settings.cors.origins)
    targets = build_targets(
        settings.targets, name_claims=settings.upstream.name_claims, clock=clock
    )
    handlers = Handlers(
        tokens=TokenHandlers(
            targets,
            default=settings.default,
            cors_origins=settings.cors.origins,
        ),
        fast=FastTokens(
            targets,
            default=settings.default,
            cors=cors,
            records=records,
            draining=draining,
            screen_proxied=local_only,
        ),
        sso=SsoHandlers(
            targets, login_url=settings.upstream.login_url, public_url=settings.server.public_url
        ),
        staff=StaffHandlers(records),
        probes=ProbeHandlers(targets, draining=draining, retiring=retiring),
        pages=PageHandlers(settings, targets),
        metrics=metrics,
        records=records,
    )

    server = settings.server
    app = web.Application(
        middlewares=[
            edge_middleware(
                records,
                draining=draining,
                cors=cors,
                max_body_bytes=server.max_body_bytes,
                local_only=local_only,
            )
        ],
        client_max_size=server.max_body_bytes,
        # a login token up to max_token_bytes must reach our own check (a JSON 401); aiohttp's
        # default 8190-byte header limit would answer a plain 400 that quotes the header
        handler_args={
            "max_field_size": settings.upstream.max_token_bytes + HEADER_MARGIN,
            "max_line_size": server.max_line_bytes,
            "max_headers": server.max_headers,
        },
    )
    app[DRAINING] = draining
    app[RETIRING] = retiring
    app[FAST_PATH] = handlers.fast

    cors_routes = []
    for route in _routes(settings, handlers):
        added = app.router.add_route(route.method, route.path, route.handler)
        if route.cors:
            cors_routes.append(added)
        elif route.readable:
            cors.enable(added)

    app.cleanup_ctx.append(records.flusher)  # access lines and request metrics, in batches
    app.cleanup_ctx.append(_resources(settings, handlers, targets))
    config = settings.metrics
    if metrics is not None and config.port is not None:
        app.cleanup_ctx.append(
            metrics_server(
                metrics, host=config.host, port=config.port, path=config.path,
                before=records.flush,
            )
        )  # fmt: skip
    if settings.demo.enabled:

        async def warn(app: web.Application) -> None:
            log.warning("the demo page is on at /demo: it mints login cookies (development only)")

        app.on_startup.append(warn)
    _setup_cors(app, settings, cors, cors_routes)
    return app
