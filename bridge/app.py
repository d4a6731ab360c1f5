"""``create_app(settings)``: the one place the application is put together.

It does no I/O. Resources that need the event loop (the outgoing HTTP session, the login
system's key set, the cache) are ``cleanup_ctx`` generators: created once at start-up, closed
once at shutdown.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import aiohttp_cors
from aiohttp import web

from bridge import handlers, keys
from bridge.cors import EXPOSE_HEADERS, ActualCors
from bridge.drain import Drain
from bridge.keysets import KeySet
from bridge.log import install_redaction
from bridge.metrics import Metrics, metrics_handler, metrics_server
from bridge.middlewares import edge_middleware
from bridge.pages import setup_pages
from bridge.protocol import install_safe_parse_errors
from bridge.ratelimit import setup_rate_limits
from bridge.records import RequestRecords
from bridge.settings import Settings
from bridge.staff import setup_staff
from bridge.targets import build_signers
from bridge.upstream import Verifier

USER_AGENT = "bridge-gateway/0.1"
#: room in the Cookie header for the site's other cookies besides the login token
HEADER_MARGIN = 8192


def _http_session(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        session = aiohttp.ClientSession(
            headers={"User-Agent": USER_AGENT},
            timeout=aiohttp.ClientTimeout(total=30, connect=5),
            raise_for_status=False,
            trust_env=False,
        )
        app[keys.HTTP_SESSION] = session
        yield
        await session.close()

    return ctx


def _verifier(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        upstream = settings.upstream
        keyset = None
        if upstream.keys_url is not None:
            keyset = KeySet(
                app[keys.HTTP_SESSION],
                upstream.keys_url,
                family=upstream.family,
                cache_ttl=upstream.keys_cache_ttl,
                refresh_cooldown=upstream.keys_refresh_cooldown,
                timeout=upstream.keys_timeout,
            )
        app[keys.VERIFIER] = Verifier(upstream, keyset=keyset)
        yield

    return ctx


def _setup_cors(
    app: web.Application,
    settings: Settings,
    actual: ActualCors,
    routes: list[web.AbstractRoute],
) -> None:
    """Exact origins with credentials; unlisted origins get no ``Access-Control-*`` at all.

    aiohttp-cors answers the preflights; :class:`~bridge.cors.ActualCors` (in the edge
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


def _setup_metrics(
    app: web.Application, settings: Settings, metrics: Metrics, records: RequestRecords
) -> None:
    """``/metrics`` on the public port, or on ``metrics.port`` alone when that is set; either
    first counts the requests this process has answered but not yet recorded."""
    config = settings.metrics
    if config.port is None:
        app.router.add_get(config.path, metrics_handler(metrics, before=records.flush))
    else:
        app.cleanup_ctx.append(
            metrics_server(
                metrics, host=config.host, port=config.port, path=config.path,
                before=records.flush,
            )
        )  # fmt: skip


def create_app(settings: Settings, *, clock: Callable[[], float] = time.time) -> web.Application:
    install_redaction()
    metrics = Metrics() if settings.metrics.enabled else None
    server = settings.server
    install_safe_parse_errors()  # aiohttp's own 400s would quote the Cookie line
    drain = Drain()  # set on SIGTERM by bridge.drain when serving
    cors = ActualCors(settings.cors.origins)
    records = RequestRecords(
        metrics, log_requests=settings.log.access, interval=settings.log.access_flush_seconds
    )
    edge = edge_middleware(records, drain=drain, cors=cors)
    app = web.Application(
        middlewares=[edge],
        client_max_size=server.max_body_bytes,
        # a login token up to max_token_bytes must reach our own check (a JSON 401); aiohttp's
        # default 8190-byte header limit would answer a plain 400 that quotes the header
        handler_args={
            "max_field_size": settings.upstream.max_token_bytes + HEADER_MARGIN,
            "max_line_size": server.max_line_bytes,
            "max_headers": server.max_headers,
        },
    )
    app[keys.SETTINGS] = settings
    if metrics is not None:
        app[keys.METRICS] = metrics
        _setup_metrics(app, settings, metrics, records)
    app[keys.DRAIN] = drain
    app[keys.RECORDS] = records
    signers = app[keys.SIGNERS] = build_signers(settings, clock=clock)
    app.cleanup_ctx.append(records.flusher)  # access lines and request metrics, in batches
    app.cleanup_ctx.append(_http_session(settings))
    app.cleanup_ctx.append(_verifier(settings))

    tokens = handlers.TokenRoutes(settings, signers)
    token_routes = [
        app.router.add_get("/generate/token", tokens.generate_token),
        app.router.add_post("/generate/token", tokens.generate_token),
        app.router.add_get("/v1/targets/{name}/token", tokens.target_token),
        app.router.add_post("/v1/targets/{name}/token", tokens.target_token),
    ]
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/readyz", handlers.readyz)
    app.router.add_get("/.well-known/jwks.json", handlers.jwks)

    # staff lookup (visitors, login-user linkage, the cache): wired by bridge.staff.setup_staff
    setup_staff(app, settings)
    # /static/bridge.js always; the demo and staff pages when enabled: bridge.pages.setup_pages
    setup_pages(app, settings)
    # abuse limits for the token endpoints and the lookups (in process, or shared via Redis)
    setup_rate_limits(app, settings)
    app.cleanup_ctx.append(tokens.bind)  # after the verifier's and the limits' own

    _setup_cors(app, settings, cors, token_routes)
    return app
