"""What the gateway serves to people: the browser client, the demo page and the staff page.

    GET  /static/{name}   bridge.js (the widget helpers), demo.js, staff.js, pages.css: always
    GET  /demo            the demo page                                  (demo.enabled)
    POST /demo/login      sign in as a development user: sets the login cookie
    POST /demo/logout     clears it
    GET  /staff           the staff lookup page                          (staff_page.enabled)

The pages are static HTML from ``templates/`` with their script and style in ``static/``
(no inline script, so a strict Content-Security-Policy holds). What varies per deployment
(the demo's target names and types, whether staff may use their login cookie) goes into the
page as JSON or a data attribute; no secret, key or token is ever rendered into a page.

The demo MINTS LOGIN COOKIES. Settings validation refuses it unless the login system is HS, the
server binds a loopback address and ``demo.i_understand_this_mints_login_cookies`` is set;
``create_app`` checks again (``--host`` may have changed the address since), and each demo
request is refused unless it comes straight from a loopback peer with no proxy headers and
names ``localhost``, ``127.0.0.1`` or ``[::1]`` as its ``Host`` (DNS rebinding).
"""

from __future__ import annotations

import html
import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from aiohttp import hdrs, web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bridge.errors import DemoRefused, InvalidDemoUser, NotFound, UnsupportedMediaType
from bridge.forwarded import PROXY_HEADERS
from bridge.login.devtokens import mint_login_token
from bridge.login.identity import is_sane_text
from bridge.settings.login import LoginSystemSettings
from bridge.settings.root import Settings
from bridge.targets.base import Target

log = logging.getLogger("bridge.pages")

PACKAGE_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = PACKAGE_DIR / "static"
TEMPLATES_DIR = PACKAGE_DIR / "templates"

#: the files under /static/ and their content types; nothing else is served from there
STATIC_FILES = {
    "bridge.js": "text/javascript; charset=utf-8",
    "demo.js": "text/javascript; charset=utf-8",
    "staff.js": "text/javascript; charset=utf-8",
    "sso.js": "text/javascript; charset=utf-8",
    "pages.css": "text/css; charset=utf-8",
}
STATIC_CACHE_CONTROL = "public, max-age=300"

#: the pages load only their own script, style and API; nothing may frame them
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

#: the only ``Host`` a demo request may name (with or without a port): a page of another name
#: that resolves to this machine (DNS rebinding), or a tunnel, is not the developer's browser
_LOCAL_HOST = re.compile(r"(?:localhost|127\.0\.0\.1|\[::1\])(?::[0-9]{1,5})?", re.IGNORECASE)


class DemoUser(BaseModel):
    """The demo's sign-in form. The same limits as the gateway's own login-token checks."""

    model_config = ConfigDict(extra="forbid", strict=True)

    sub: str = Field(min_length=1, max_length=255)
    #: the login system to sign in to (its name); default: the first one
    login: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^\s@]+@[^\s@]+$")
    name: str | None = Field(default=None, max_length=255)

    @field_validator("sub", "email", "name")
    @classmethod
    def _sane(cls, value: str | None) -> str | None:
        if value is not None and (value != value.strip() or not is_sane_text(value, 255)):
            raise ValueError("no surrounding spaces, control or bidi characters")
        return value

    @field_validator("email", "name", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


def _login_label(name: str, system: LoginSystemSettings) -> str:
    return name if system.project_id is None else f"{name} (project {system.project_id})"


@cache
def _template(name: str) -> str:
    return (TEMPLATES_DIR / name).read_text(encoding="utf-8")


def _json_for_html(value: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">`` (no ``</script>``)."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _page(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS)


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    content_type = STATIC_FILES.get(name)
    if content_type is None:
        raise NotFound()
    return web.FileResponse(
        STATIC_DIR / name,
        headers={
            hdrs.CONTENT_TYPE: content_type,
            hdrs.CACHE_CONTROL: STATIC_CACHE_CONTROL,
            # sites load bridge.js from the gateway's origin, also under COEP
            "Cross-Origin-Resource-Policy": "cross-origin",
            hdrs.VARY: "Origin",  # listed origins get CORS headers (for Subresource Integrity)
        },
    )


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _local_only(handler: Handler) -> Handler:
    """Refuse a demo request that came through a proxy, from another machine, or for a
    ``Host`` other than the loopback names."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        headers = request.headers
        if any(name in headers for name in PROXY_HEADERS):
            raise DemoRefused(reason="demo_proxied_request")
        if not _is_loopback(request.remote):
            raise DemoRefused(reason="demo_remote_peer")
        hosts = headers.getall(hdrs.HOST, ())
        if len(hosts) != 1 or not _LOCAL_HOST.fullmatch(hosts[0]):
            raise DemoRefused(reason="demo_host")
        return await handler(request)

    return wrapped


def _same_origin_json(request: web.Request) -> None:
    """A sign-in must be a same-origin JSON call: a cross-site form cannot send one."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType()
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        raise DemoRefused(reason="demo_cross_origin")


class PageHandlers:
    """The demo and staff pages, for one configuration and its targets."""

    def __init__(self, settings: Settings, targets: Mapping[str, Target]) -> None:
        self._settings = settings
        self._targets = targets
        #: the login systems a development user may sign in to: those with HS secrets
        self._demo_logins = {
            name: system for name, system in settings.login_systems if system.family == "HS"
        }
        self.demo_page = _local_only(self._demo_page)
        self.demo_login = _local_only(self._demo_login)
        self.demo_logout = _local_only(self._demo_logout)

    async def _demo_page(self, request: web.Request) -> web.Response:
        settings = self._settings
        targets = [
            {"name": name, "type": target.type, "ttl": target.ttl,
             "default": name == settings.default}
            for name, target in self._targets.items()
        ]  # fmt: skip
        text = _template("demo.html")
        text = text.replace("{{targets_json}}", _json_for_html(targets))
        text = text.replace("{{cookie}}", html.escape(settings.upstream.cookie))
        options = "".join(
            f'<option value="{html.escape(name)}">{html.escape(_login_label(name, system))}'
            "</option>"
            for name, system in self._demo_logins.items()
        )
        return _page(text.replace("{{login_options}}", options))

    async def _demo_login(self, request: web.Request) -> web.Response:
        _same_origin_json(request)
        try:
            user = DemoUser.model_validate(await request.json())
        except (ValueError, ValidationError):  # JSONDecodeError is a ValueError
            raise InvalidDemoUser() from None
        settings = self._settings
        system = self._demo_logins.get(user.login or settings.login_systems[0][0])
        if system is None:
            raise InvalidDemoUser()
        login = mint_login_token(
            system,
            sub=user.sub,
            email=user.email,
            name=user.name,
            ttl=settings.demo.login_ttl,
        )
        response = web.json_response(
            {"sub": user.sub, "email": user.email, "name": user.name,
             "expires_at": login.expires_at}
        )  # fmt: skip
        # another system's cookie of an earlier sign-in would make the request ambiguous
        for cookie in self._cookies():
            if cookie != system.cookie:
                response.del_cookie(cookie, path="/", httponly=True, samesite="Lax")
        # HttpOnly: page scripts never see it; Lax: sent on same-site fetches (other localhost
        # ports), never on cross-site subrequests
        response.set_cookie(
            system.cookie,
            login.token,
            max_age=settings.demo.login_ttl,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=request.secure or None,
        )
        log.info("demo sign-in as a development user")
        return response

    async def _demo_logout(self, request: web.Request) -> web.Response:
        _same_origin_json(request)
        response = web.json_response({"signed_out": True})
        for cookie in self._cookies():
            response.del_cookie(cookie, path="/", httponly=True, samesite="Lax")
        return response

    def _cookies(self) -> list[str]:
        """The demo's login systems' cookie names, each once."""
        return list(dict.fromkeys(system.cookie for system in self._demo_logins.values()))

    async def staff_page(self, request: web.Request) -> web.Response:
        text = _template("staff.html")
        login_group = self._settings.staff.login_group
        text = text.replace("{{login_cookie}}", "true" if login_group else "false")
        return _page(text)
