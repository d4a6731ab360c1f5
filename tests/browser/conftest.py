"""Browser tests: Debian's headless Chromium driven by Playwright's async API.

A test gets a :class:`Stage`: the gateway and two "sites" that embed it, each a real aiohttp
server on its own loopback port, all addressed as ``localhost`` so that they are different
origins of the same site (the login cookie is ``SameSite=Lax``):

    http://localhost:<shop>      listed in cors.origins: the shop that embeds a widget
    http://localhost:<stranger>  not listed: the same page on an origin the gateway refuses
    http://localhost:<gateway>   the gateway, serving /static/bridge.js, /demo and /staff

Chromium is found as ``$BRIDGE_CHROMIUM``, ``chromium`` or ``chromium-browser``; Playwright
never downloads a browser. Without one the tests are skipped, except under CI (``CI`` set),
where they fail: CI must run them.

The shop loads bridge.js as the ``<script>`` the gateway serves, or, where a test module asks
for both builds (``pytestmark`` with :data:`BOTH_BUILDS`), also as the npm package's ES module,
bundled the way a site would: served from the shop's own origin and imported there.

Screenshots go to a temporary directory, or to ``$BRIDGE_SCREENSHOTS`` when it is set (the
README's screenshots are made with ``BRIDGE_SCREENSHOTS=docs/screenshots``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from pytest_aiohttp import AiohttpServer

from bridge.app import create_app
from tests.conftest import login_token, settings
from tests.support.jspkg import packed

SITE_DIR = Path(__file__).resolve().parent / "site"

#: what works for Debian's Chromium as root in a container; Playwright adds --headless and a
#: fresh --user-data-dir of its own
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_executable() -> str | None:
    return (
        os.environ.get("BRIDGE_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_executable()
    if executable is None:
        message = "Chromium is not installed (apt-get install chromium, or set BRIDGE_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    given = os.environ.get("BRIDGE_SCREENSHOTS")
    directory = Path(given) if given else tmp_path / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


#: how the shop loads bridge.js: the gateway's ``<script>``, or the npm package's ES module
BUILDS = {
    "script": '<script src="{gateway}/static/bridge.js"></script>',
    "module": (
        '<script type="module">\n'
        '    import * as Bridge from "/assets/bridge.mjs";  // what a bundler makes of the import\n'
        "    window.Bridge = Bridge;  // the tests call Bridge.connect(...) either way\n"
        "  </script>"
    ),
}
#: ``pytestmark`` of a test module that runs each of its tests with both builds
BOTH_BUILDS = pytest.mark.parametrize("bridge_build", sorted(BUILDS), indirect=True)


@pytest.fixture
def bridge_build(request: pytest.FixtureRequest) -> str:
    """Which build of bridge.js the shop loads (the ``<script>`` unless parametrized)."""
    build: str = getattr(request, "param", "script")
    return build


def _site_app(stage: Stage, build: str) -> web.Application:
    """A site that embeds the gateway: shop.html (with the gateway's URL and bridge.js in the
    chosen build), standins.js, and the package's ES module as one of the site's assets."""

    async def shop(request: web.Request) -> web.Response:
        text = (SITE_DIR / "shop.html").read_text().replace("{bridge}", BUILDS[build])
        text = text.replace("{gateway}", stage.gateway)
        return web.Response(text=text, content_type="text/html")

    async def standins(request: web.Request) -> web.FileResponse:
        return web.FileResponse(SITE_DIR / "standins.js")

    async def module(request: web.Request) -> web.FileResponse:
        _, package = packed()
        return web.FileResponse(
            package / "dist" / "bridge.mjs", headers={"Content-Type": "text/javascript"}
        )

    async def other(request: web.Request) -> web.Response:
        text = stage.pages.get(request.match_info["name"])
        if text is None:
            raise web.HTTPNotFound()
        return web.Response(text=text, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", shop)
    app.router.add_get("/standins.js", standins)
    app.router.add_get("/assets/bridge.mjs", module)
    app.router.add_get("/pages/{name}", other)
    return app


@dataclass(frozen=True)
class Seen:
    """One request as the gateway saw it and answered it."""

    path: str
    status: int
    origin: str | None
    cookie_sent: bool
    allow_origin: str | None


@dataclass
class Stage:
    shop: str = ""
    stranger: str = ""
    gateway: str = ""
    #: every request the gateway answered, in order
    requests: list[Seen] = field(default_factory=list)
    browser: Browser | None = None
    #: uncaught script errors of every page opened (tests assert there are none)
    page_errors: list[str] = field(default_factory=list)
    #: more pages the shop serves, at /pages/<name>
    pages: dict[str, str] = field(default_factory=dict)

    def token_requests(self, target: str | None = None) -> list[Seen]:
        prefix = f"/v1/targets/{target}/" if target else "/v1/targets/"
        return [seen for seen in self.requests if seen.path.startswith(prefix)]

    async def context(self, *, signed_in: bool = True, **claims: Any) -> BrowserContext:
        """A fresh browser profile; with the login cookie for ``localhost`` unless told not to."""
        assert self.browser is not None
        context = await self.browser.new_context(viewport={"width": 1200, "height": 720})
        context.set_default_timeout(15_000)
        if signed_in:
            await context.add_cookies(
                [
                    {
                        "name": "token",
                        "value": login_token(**claims),
                        "domain": "localhost",
                        "path": "/",
                        "httpOnly": True,
                        "sameSite": "Lax",
                    }
                ]
            )
        return context

    async def open(self, url: str, *, signed_in: bool = True, **claims: Any) -> Page:
        """A page at ``url`` whose script errors fail the test."""
        context = await self.context(signed_in=signed_in, **claims)
        page = await context.new_page()
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        await page.goto(url)
        return page


MakeStage = Callable[..., Awaitable[Stage]]


@pytest.fixture
def make_stage(aiohttp_server: AiohttpServer, browser: Browser, bridge_build: str) -> MakeStage:
    """``await make_stage(**config_overrides)``: the two sites and the gateway, running."""

    async def factory(**overrides: Any) -> Stage:
        stage = Stage(browser=browser)
        shop = await aiohttp_server(_site_app(stage, bridge_build))
        stranger = await aiohttp_server(_site_app(stage, bridge_build))
        stage.shop = f"http://localhost:{shop.port}"
        stage.stranger = f"http://localhost:{stranger.port}"
        overrides.setdefault("cors", {"origins": [stage.shop]})
        app = create_app(settings(**overrides))

        async def record(request: web.Request, response: web.StreamResponse) -> None:
            stage.requests.append(
                Seen(
                    request.path,
                    response.status,
                    request.headers.get("Origin"),
                    "Cookie" in request.headers,
                    response.headers.get("Access-Control-Allow-Origin"),
                )
            )

        app.on_response_prepare.append(record)
        gateway = await aiohttp_server(app)
        stage.gateway = f"http://localhost:{gateway.port}"
        return stage

    return factory
