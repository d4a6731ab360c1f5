"""A development stand-in for a Zendesk help center with JWT single sign-on.

    python -m bridge.zendesk.dev_help_center --port 8003 \\
        --remote-login-url http://127.0.0.1:8001/v1/sso/help-center

serves, on 127.0.0.1 only:

    GET  /, /hc/...    who is signed in; a visitor who is not is sent to the remote login URL
                       with ``return_to`` (as Zendesk does)
    POST /access/jwt   Zendesk's JWT endpoint: verifies the token (HS256 with the development
                       secret, ``iat`` within three minutes, an unseen ``jti``, ``name`` and
                       ``email``), then sends the browser to ``return_to`` on this host

with the development shared secret of ``config.example.yaml``. Not for production: it exists so
that the help center sign-in can be tried end to end without Zendesk. It verifies with PyJWT,
not with the gateway's own signing code.
"""

from __future__ import annotations

import argparse
import html
import secrets
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import jwt
from aiohttp import web

#: the well-known development secret: this stand-in guards nothing
SSO_SECRET = "DEVELOPMENT-ONLY-zendesk-sso-shared-secret-01234"  # noqa: S105
SESSION_COOKIE = "dev_help_center_session"
IAT_WINDOW = 180
#: jti values remembered against replays (the oldest are forgotten first)
MAX_JTIS = 10_000

_STYLE = "body{font:16px system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}"


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body><p><small>development help center stand-in"
        f"</small></p>{body}</body></html>"
    )
    return web.Response(
        text=text,
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Content-Security-Policy": "default-src 'none'; "
                 "style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'"},
    )  # fmt: skip


def create_help_center_app(
    *, secret: str = SSO_SECRET, remote_login_url: str | None = None
) -> web.Application:
    """The stand-in application (used by ``main`` and by tests)."""
    seen_jtis: dict[str, None] = {}
    sessions: dict[str, dict[str, Any]] = {}

    def refuse(why: str) -> web.Response:
        return _page("Sign-in refused", f"<h1>Sign-in refused</h1><p>{html.escape(why)}</p>", 403)

    async def access_jwt(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        token, return_to = form.get("jwt"), form.get("return_to")
        if not isinstance(token, str) or not isinstance(return_to, str):
            return refuse("the form needs jwt and return_to")
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                options={"require": ["iat", "jti", "name", "email"], "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            return refuse(f"the token does not verify ({type(exc).__name__})")
        if not isinstance(claims["iat"], int) or abs(time.time() - claims["iat"]) > IAT_WINDOW:
            return refuse("iat is more than three minutes from this clock")
        if claims["jti"] in seen_jtis:
            return refuse("this jti was used before")
        seen_jtis[claims["jti"]] = None
        while len(seen_jtis) > MAX_JTIS:
            del seen_jtis[next(iter(seen_jtis))]
        origin = f"{request.scheme}://{request.host}/"
        target = return_to if return_to.startswith(origin) else origin + "hc/"
        session = secrets.token_urlsafe(16)
        sessions[session] = claims
        response = web.Response(status=303, headers={"Location": target})
        response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="Lax", path="/")
        return response

    async def page(request: web.Request) -> web.StreamResponse:
        claims = sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        if claims is None:
            if remote_login_url is None:
                return _page("Help center", "<h1>Not signed in</h1>", 401)
            here = f"{request.scheme}://{request.host}{request.rel_url}"
            return web.Response(
                status=302,
                headers={"Location": f"{remote_login_url}?{urlencode({'return_to': here})}"},
            )
        rows = "".join(
            f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(str(value))}</td></tr>"
            for key, value in claims.items()
        )
        body = (
            f'<h1 id="who">Signed in as {html.escape(str(claims["name"]))}</h1>'
            f'<p>The token verified; its claims:</p><table id="claims">{rows}</table>'
        )
        return _page("Help center", body)

    app = web.Application()
    app.router.add_post("/access/jwt", access_jwt)
    app.router.add_get("/", page)
    app.router.add_get("/hc/{tail:.*}", page)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bridge.zendesk.dev_help_center",
        description="A development stand-in for a Zendesk help center with JWT SSO (127.0.0.1).",
    )
    parser.add_argument("--port", type=int, default=8003)
    parser.add_argument(
        "--remote-login-url",
        default="http://127.0.0.1:8001/v1/sso/help-center",
        help="where a visitor who is not signed in is sent (the gateway's /v1/sso/<name>)",
    )
    args = parser.parse_args(argv)
    base = f"http://127.0.0.1:{args.port}"
    print(
        "dev help center stand-in; gateway configuration:\n"
        f"  targets: {{help-center: {{type: zendesk_sso, base_url: {base}, "
        f"secret: {{value: {SSO_SECRET}}}}}}}\n"
        f"open {base}/hc/en-us to sign in through {args.remote_login_url}",
        flush=True,
    )
    app = create_help_center_app(remote_login_url=args.remote_login_url)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
