"""Zendesk JWT single sign-on: the remote login and logout URLs of a ``zendesk_sso`` target.

    GET /v1/sso/{name}?return_to=URL          the remote login URL
    GET /v1/sso/{name}/logout?return_to=URL   the remote logout URL

A sign-in reads top to bottom: the target -> ``return_to`` checked (400 ``bad_return_to``)
-> Fetch Metadata (a top-level navigation only) -> the login cookies -> ``LoginSystems.verify``
-> the address and subject limits -> ``signer.sign(identity)`` -> a page whose form POSTs
``jwt`` and ``return_to`` to ``{base_url}/access/jwt``. A small script submits it at once; with
scripts off the visitor presses its button.

A visitor with no login cookie (or an invalid one) is sent to ``upstream.login_url`` with
``{return}`` replaced by this request's URL as the browser reached it (``server.public_url``,
or the believed forwarding headers: :mod:`bridge.http.origin`), when it is set; otherwise the
answer is the usual 401 (``00-00`` / ``00-01``). The token is only ever in the page's form:
never in a URL, a ``Location`` header or a log line.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from aiohttp import hdrs, web

from bridge.errors import BadReturnTo, FetchMetadataRefused, TargetNotFound, TokenError
from bridge.http.origin import PublicUrls
from bridge.http.pipeline import identify
from bridge.login.systems import LoginSystems
from bridge.ratelimit import RateLimits
from bridge.state import TARGET
from bridge.targets.base import Target
from bridge.targets.zendesk_sso import ZendeskSsoSigner, fill_url

TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "sso.html"


@cache
def _template() -> str:
    return TEMPLATE.read_text(encoding="utf-8")


def page_headers(signer: ZendeskSsoSigner) -> dict[str, str]:
    """The sign-in page may run its own script and post its form to Zendesk, nothing else."""
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"form-action {signer.origin}; frame-ancestors 'none'; base-uri 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        hdrs.CACHE_CONTROL: "no-store",
    }


def _return_to(request: web.Request) -> str | None:
    """The one ``return_to`` of the query (two are refused: which would Zendesk read?)."""
    values = request.rel_url.query.getall("return_to", [])
    if len(values) > 1:
        raise BadReturnTo(reason="return_to_repeated")
    return values[0] if values else None


def _redirect(location: str) -> web.Response:
    """A 302 to ``location`` exactly as given (``HTTPFound`` would re-encode its query)."""
    return web.Response(status=302, headers={hdrs.LOCATION: location})


def _navigation_only(headers: Mapping[str, str]) -> None:
    """The sign-in page is opened by the browser itself, never fetched, framed or embedded."""
    mode = headers.get("Sec-Fetch-Mode")
    dest = headers.get("Sec-Fetch-Dest")
    if mode is not None and mode.strip().lower() != "navigate":
        raise FetchMetadataRefused(reason="sso_not_navigation")
    if dest is not None and dest.strip().lower() != "document":
        raise FetchMetadataRefused(reason="sso_fetch_dest")


class SsoHandlers:
    """``login`` and ``logout`` for the ``zendesk_sso`` targets, bound at start-up
    (:meth:`bind`) to the login systems and the limits."""

    def __init__(
        self, targets: Mapping[str, Target], *, login_url: str | None, public_url: str | None
    ) -> None:
        self._signers = {
            name: target for name, target in targets.items() if isinstance(target, ZendeskSsoSigner)
        }
        self._login_url = login_url
        self._public_url = public_url

    # set by bind(), at start-up, before any request
    _systems: LoginSystems
    _limits: RateLimits
    _urls: PublicUrls

    def bind(self, systems: LoginSystems, limits: RateLimits) -> None:
        self._systems, self._limits = systems, limits
        self._urls = PublicUrls(self._public_url, limits.addresses)

    def _target(self, request: web.Request) -> ZendeskSsoSigner:
        signer = self._signers.get(request.match_info["name"])
        if signer is None:
            raise TargetNotFound()
        request[TARGET] = signer.name
        return signer

    async def login(self, request: web.Request) -> web.Response:
        signer = self._target(request)
        return_to = signer.check_return_to(_return_to(request))
        _navigation_only(request.headers)
        try:
            identity = await identify(request, self._systems, self._limits)
        except TokenError:
            if self._login_url is None:
                raise
            return _redirect(fill_url(self._login_url, self._urls.of(request)))
        minted = signer.sign(identity)
        text = (
            _template()
            .replace("{{action}}", html.escape(signer.action))
            .replace("{{return_to}}", html.escape(return_to))
            .replace("{{jwt}}", html.escape(minted.token))
        )
        return web.Response(
            text=text, content_type="text/html", charset="utf-8", headers=page_headers(signer)
        )

    async def logout(self, request: web.Request) -> web.Response:
        """Zendesk's remote logout URL: on to ``logout_url`` (``{return}`` = the allowed
        ``return_to``), else to the allowed ``return_to``, else the help center's home."""
        signer = self._target(request)
        return_to = signer.check_return_to(_return_to(request))
        if signer.logout_url is not None:
            return _redirect(fill_url(signer.logout_url, return_to))
        return _redirect(return_to)
