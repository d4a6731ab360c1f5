"""A fake Zendesk help center with JWT single sign-on: a real ``web.Application`` on 127.0.0.1.

    GET  /hc/...       a help center page: who is signed in (a session cookie), or, for a
                       visitor with no session, a 302 to the remote login URL with return_to
    POST /access/jwt   Zendesk's JWT endpoint: verifies the form's ``jwt`` with PyJWT (not the
                       gateway's code), refuses a seen ``jti`` or an ``iat`` off by more than
                       three minutes, starts a session and sends the browser to ``return_to``

Every request's URL is recorded (:attr:`FakeHelpCenter.urls`), so a test can show that no
token ever travelled in one. Fixture: ``fake_help_center`` (register this module as a plugin).
"""

from __future__ import annotations

import html
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

SSO_SECRET = "test-zendesk-sso-shared-secret-0123456789abcdef"
SESSION_COOKIE = "_help_center_session"
#: Zendesk refuses an iat further than about this from its clock
IAT_WINDOW = 180


@dataclass
class Arrival:
    """One visitor Zendesk let in: the verified claims and where they were sent."""

    header: dict[str, Any]
    claims: dict[str, Any]
    return_to: str
    #: the token as it arrived, so that a test can look for it elsewhere
    token: str = field(repr=False, default="")


@dataclass
class FakeHelpCenter:
    secret: str = SSO_SECRET
    url: str = ""
    #: where a visitor with no session is sent (the gateway's /v1/sso/{name})
    remote_login_url: str | None = None
    arrivals: list[Arrival] = field(default_factory=list)
    #: why /access/jwt refused a request, in order
    refusals: list[str] = field(default_factory=list)
    #: path and query of every request received
    urls: list[str] = field(default_factory=list)
    _sessions: dict[str, Arrival] = field(default_factory=dict)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/access/jwt", self._access_jwt)
        app.router.add_get("/hc/{tail:.*}", self._page)
        return app

    def _refuse(self, reason: str, status: int = 403) -> web.Response:
        self.refusals.append(reason)
        return web.Response(status=status, text=f"refused: {reason}")

    async def _access_jwt(self, request: web.Request) -> web.StreamResponse:
        self.urls.append(str(request.rel_url))
        form = await request.post()
        token, return_to = form.get("jwt"), form.get("return_to")
        if not isinstance(token, str) or not isinstance(return_to, str):
            return self._refuse("form_fields", 400)
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                options={"require": ["iat", "jti", "name", "email"]},
            )
        except jwt.PyJWTError as exc:
            return self._refuse(f"jwt: {type(exc).__name__}")
        if abs(time.time() - claims["iat"]) > IAT_WINDOW:
            return self._refuse("iat")
        if any(seen.claims["jti"] == claims["jti"] for seen in self.arrivals):
            return self._refuse("jti_replayed")
        if not return_to.startswith(self.url + "/"):
            return self._refuse("return_to", 400)
        arrival = Arrival(header, claims, return_to, token)
        self.arrivals.append(arrival)
        session = secrets.token_urlsafe(16)
        self._sessions[session] = arrival
        response = web.Response(status=303, headers={"Location": return_to})
        response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="Lax", path="/")
        return response

    async def _page(self, request: web.Request) -> web.StreamResponse:
        self.urls.append(str(request.rel_url))
        arrival = self._sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        if arrival is None:
            if self.remote_login_url is None:
                return web.Response(status=401, text="not signed in")
            query = urlencode({"return_to": f"{self.url}{request.rel_url}"})
            raise web.HTTPFound(f"{self.remote_login_url}?{query}")
        claims = arrival.claims
        body = (
            "<!doctype html><title>Help center</title>"
            f'<h1 id="who">Signed in as {html.escape(claims["name"])}</h1>'
            f'<p id="email">{html.escape(claims["email"])}</p>'
            f'<p id="external-id">{html.escape(str(claims.get("external_id")))}</p>'
            f'<p id="jti">{html.escape(claims["jti"])}</p>'
        )
        return web.Response(text=body, content_type="text/html")


@pytest.fixture
async def fake_help_center(aiohttp_server: AiohttpServer) -> FakeHelpCenter:
    fake = FakeHelpCenter()
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    fake.url = f"http://127.0.0.1:{server.port}"
    return fake
