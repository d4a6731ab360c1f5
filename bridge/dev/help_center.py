"""A stand-in for a Zendesk help center with JWT single sign-on.

    python -m bridge.dev.help_center --port 8003 \\
        --remote-login-url http://127.0.0.1:8001/v1/sso/help-center

serves, on 127.0.0.1 only:

    GET  /, /hc/...    who is signed in (a session cookie); a visitor who is not is sent to
                       the remote login URL with ``return_to`` (as Zendesk does)
    POST /access/jwt   Zendesk's JWT endpoint: verifies the form's ``jwt`` (HS256 with the
                       shared secret, ``iat`` within three minutes, an unseen ``jti``, ``name``
                       and ``email``), starts a session and sends the browser to ``return_to``
                       on this host

with the development shared secret of ``config.example.yaml``. It verifies with PyJWT, not
with the gateway's own signing code. Every request's path and query is recorded
(:attr:`FakeHelpCenter.urls`), with the visitors let in and why others were refused.
"""

from __future__ import annotations

import html
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from aiohttp import web

from bridge.dev.fake import parser, serve

#: the well-known development secret: this stand-in guards nothing
SSO_SECRET = "DEVELOPMENT-ONLY-zendesk-sso-shared-secret-01234"  # noqa: S105
SESSION_COOKIE = "dev_help_center_session"
#: Zendesk refuses an iat further than about this from its clock
IAT_WINDOW = 180

_STYLE = "body{font:16px system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}"
_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'"


@dataclass
class Arrival:
    """One visitor the help center let in: the verified claims and where they were sent."""

    header: dict[str, Any]
    claims: dict[str, Any]
    return_to: str
    #: the token as it arrived, so that a test can look for it elsewhere
    token: str = field(repr=False, default="")


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body><p><small>help center stand-in</small></p>"
        f"{body}</body></html>"
    )
    headers = {"Cache-Control": "no-store", "Content-Security-Policy": _CSP}
    return web.Response(text=text, status=status, content_type="text/html", headers=headers)


@dataclass
class FakeHelpCenter:
    secret: str = SSO_SECRET
    #: where it is served, without a trailing slash (else the request's own origin)
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
        app.router.add_get("/", self._page)
        app.router.add_get("/hc/{tail:.*}", self._page)
        return app

    def _origin(self, request: web.Request) -> str:
        return self.url or f"{request.scheme}://{request.host}"

    def _refuse(self, reason: str, status: int = 403) -> web.Response:
        self.refusals.append(reason)
        return _page(
            "Sign-in refused", f"<h1>Sign-in refused</h1><p>{html.escape(reason)}</p>", status
        )

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
        if not return_to.startswith(self._origin(request) + "/"):
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
                return _page("Help center", "<h1>Not signed in</h1>", 401)
            query = urlencode({"return_to": f"{self._origin(request)}{request.rel_url}"})
            raise web.HTTPFound(f"{self.remote_login_url}?{query}")
        claims = arrival.claims
        rows = "".join(
            f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(str(value))}</td></tr>"
            for key, value in claims.items()
        )
        body = (
            f'<h1 id="who">Signed in as {html.escape(str(claims["name"]))}</h1>'
            f'<p id="email">{html.escape(str(claims["email"]))}</p>'
            f'<p id="external-id">{html.escape(str(claims.get("external_id")))}</p>'
            f'<p id="jti">{html.escape(str(claims["jti"]))}</p>'
            f'<p>The token verified; its claims:</p><table id="claims">{rows}</table>'
        )
        return _page("Help center", body)


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parser(
        "python -m bridge.dev.help_center",
        "A development stand-in for a Zendesk help center with JWT SSO",
        8003,
    )
    arguments.add_argument(
        "--remote-login-url",
        default="http://127.0.0.1:8001/v1/sso/help-center",
        help="where a visitor who is not signed in is sent (the gateway's /v1/sso/<name>)",
    )
    args = arguments.parse_args(argv)
    fake = FakeHelpCenter(
        url=f"http://127.0.0.1:{args.port}", remote_login_url=args.remote_login_url
    )
    banner = (
        "dev help center stand-in; gateway configuration:\n"
        f"  targets: {{help-center: {{type: zendesk_sso, base_url: {fake.url}, "
        f"secret: {{value: {SSO_SECRET}}}}}}}\n"
        f"open {fake.url}/hc/en-us to sign in through {args.remote_login_url}"
    )
    serve(fake.app(), args.port, banner)


if __name__ == "__main__":
    main()
