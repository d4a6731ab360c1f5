"""The token path's steps, in order; one set for both ways a token request is answered.

    screen     Fetch Metadata (:func:`~bridge.http.fetchmeta.check_fetch_metadata`)
    identify   the login cookie's verified user (:func:`identify`; a known token: the
               verifiers' cache)
    address    the client's address, through trusted proxies (:func:`client_address`)
    limits     the address and subject limits, counted together (:func:`limit_checks`)
    mint       the target's credential (``target.mint(identity)``)
    render     the answer's body, in the route's shape (:func:`render`)
    headers    the answer's headers (:class:`AnswerHeaders`, the edge middleware's own)

:class:`~bridge.http.tokens.TokenHandlers` awaits them one request at a time;
:mod:`bridge.http.fastpath` runs each over a batch of the common request before the next.
The limits come before minting on both ways: a refused request costs no signature, and a
credential is only ever made for a request that was counted.

:data:`TOKEN_ROUTES` is the one table of the token routes: the app registers them from it,
and :func:`batched_paths` tells the batcher which paths it may take.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple, cast

import orjson
from aiohttp import hdrs, web
from multidict import CIMultiDict

from bridge.addresses import ClientAddresses
from bridge.errors import SsoOnlyTarget, TargetNotFound, TokenError
from bridge.http.cors import ActualCors
from bridge.http.middleware import STANDARD_HEADERS
from bridge.login.identity import Identity
from bridge.login.systems import LoginSystems, verify_cookies
from bridge.ratelimit import ADDRESS_LIMIT, SUBJECT_LIMIT, RateLimits
from bridge.state import LOGIN, SUBJECT
from bridge.targets.base import MintedToken, Signer, Target

GENERATE_ROUTE = "/generate/token"
TARGET_ROUTE = "/v1/targets/{name}/token"
JWT_CONTENT_TYPE = "application/jwt"
JSON_CONTENT_TYPE = "application/json"
#: the bare token's Content-Type, as aiohttp writes a text answer's
BARE_CONTENT_TYPE = f"{JWT_CONTENT_TYPE}; charset=utf-8"


class TokenRoute(NamedTuple):
    path: str
    #: answers in ``/generate/token``'s shape (``{"token"}``), for the default target
    generate: bool


#: the token routes, each for GET and POST
TOKEN_ROUTES = (TokenRoute(GENERATE_ROUTE, True), TokenRoute(TARGET_ROUTE, False))


def has_endpoint(target: Target) -> bool:
    """A token endpoint may answer the target's credential (it is not form-only)."""
    return not target.form_only


def pick(targets: Mapping[str, Target], name: str) -> Target:
    """The target a token endpoint answers for ``name``, else the refusal."""
    target = targets.get(name)
    if target is None:
        raise TargetNotFound()
    if not has_endpoint(target):
        raise SsoOnlyTarget()
    return target


def batched_paths(targets: Mapping[str, Target], default: str) -> dict[str, tuple[Signer, bool]]:
    """The raw paths the batcher may take, with their target and whether the answer is
    ``/generate/token``'s shape: the token routes of every target signed here (a broker's
    credential is a call to its vendor, which the app awaits). A name that needs
    percent-encoding never arrives as it is: the app answers it."""
    paths: dict[str, tuple[Signer, bool]] = {}
    for route in TOKEN_ROUTES:
        chosen = {default: targets[default]} if route.generate else targets
        for name, target in chosen.items():
            if not target.brokered and has_endpoint(target):
                signer = cast(Signer, target)  # not brokered: signed here
                paths[route.path.replace("{name}", name)] = (signer, route.generate)
    return paths


def wants_jwt(headers: Mapping[str, str]) -> bool:
    """Whether ``Accept`` asks for ``application/jwt`` (the bare token)."""
    accept = headers.get(hdrs.ACCEPT, "")
    return any(part.split(";")[0].strip().lower() == JWT_CONTENT_TYPE for part in accept.split(","))


def bare(target: Target, generate: bool, headers: Mapping[str, str]) -> bool:
    """The answer is the JWT alone (``Accept: application/jwt`` on a target's route)."""
    return not generate and target.issues_jwt and wants_jwt(headers)


def render(target: Target, generate: bool, minted: MintedToken, bare: bool = False) -> bytes:
    """The answer's body: ``{"token"}`` on ``/generate/token``; on a target's route, the token
    with its target and expiry (and what the vendor's credential says besides), or the JWT
    alone when ``bare`` (its Content-Type is :data:`BARE_CONTENT_TYPE`, else JSON's)."""
    if bare:
        return minted.token.encode()
    if generate:
        if target.issues_jwt:  # base64url and dots: nothing in it needs escaping in JSON
            return b'{"token":"' + minted.token.encode() + b'"}'
        return orjson.dumps({"token": minted.token})
    answer = {"token": minted.token, "target": target.name, "expires_at": minted.expires_at}
    if minted.extra:
        answer.update(minted.extra)
    return orjson.dumps(answer)


def client_address(addresses: ClientAddresses, request: web.BaseRequest) -> str:
    """The client's address: the peer, or what trusted proxies say it is."""
    headers = request.headers
    return addresses.resolve(
        request.remote,
        headers.getall(hdrs.X_FORWARDED_FOR, ()),
        headers.getall(hdrs.FORWARDED, ()),
    )


def limit_checks(address: str, subject: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """Both limits of a token request, checked in one go (one Redis round trip if shared)."""
    return (ADDRESS_LIMIT, address), (SUBJECT_LIMIT, subject)


async def identify(request: web.Request, systems: LoginSystems, limits: RateLimits) -> Identity:
    """The request's verified login user, counted against the address and subject limits.

    A login token that cannot be used counts against the address limit alone (which may
    answer 429 instead) and is raised as it was. Every route that acts for the visitor uses
    it: the token endpoints and the help center sign-on.
    """
    address = client_address(limits.addresses, request)
    try:
        identity = await verify_cookies(systems, request.headers.getall(hdrs.COOKIE, ()))
    except TokenError:
        await limits.check((ADDRESS_LIMIT, address))  # failed attempts count too
        raise
    request[SUBJECT] = identity.sub
    request[LOGIN] = identity.login
    await limits.check(*limit_checks(address, identity.sub))
    return identity


class AnswerHeaders:
    """A token answer's headers, as the edge middleware and CORS give them: one multidict per
    listed origin, and one for any other ``Origin`` (or none). aiohttp copies a multidict
    faster than it builds one from a dict."""

    def __init__(self, cors: ActualCors, content_type: str = JSON_CONTENT_TYPE) -> None:
        base: dict[str, str] = {
            hdrs.CONTENT_TYPE: content_type,
            **dict(STANDARD_HEADERS),
            hdrs.VARY: "Origin",
        }
        self.plain: CIMultiDict[str] = CIMultiDict(base)
        self.by_origin = {
            origin: CIMultiDict({**base, **dict(cors.headers_for(origin))})
            for origin in cors.origins
        }

    def of(self, origin: str | None) -> CIMultiDict[str]:
        return self.by_origin.get(origin, self.plain) if origin is not None else self.plain

    def add_to(self, headers: CIMultiDict[str], origin: str | None) -> None:
        """Onto an answer that has its own Content-Type (an error's)."""
        for name, value in self.of(origin).items():
            if name != hdrs.CONTENT_TYPE:
                headers[name] = value
