"""Several login systems at once: each token is verified by the one system its ``iss`` names
(and, for Xsolla Login's projects, which share one ``iss``, its ``xsolla_login_project_id``).

Each system is a :class:`~bridge.login.verifier.Verifier` with its own algorithms, secrets or
keys, claims and cache. A token goes through the strict layer once, with every system's
algorithms allowed; its ``iss`` (an exact string comparison with each system's ``issuer``)
then picks the one system that may check it, and only that system's algorithms and keys are
tried. So an HS secret of one system never vouches for another system's token, an RS key never
meets an HS system's token, and a token whose ``iss`` names no system is invalid, whatever
signs it. Systems that share an ``iss`` each have a ``project_id``: the token's project claim
(compared as an exact string) picks among them, and a token of no configured project is
refused before any key is looked at, so a flood of invented projects fetches nothing.

With one system (``upstream``) every token goes to it, exactly as before. With several cookie
names, every login cookie a request carries is verified, and two people in one request are
refused (:func:`verify_cookies`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from bridge.errors import TokenError, TokenInvalid, TokenMissing
from bridge.login.cookies import read_cookie
from bridge.login.identity import Identity
from bridge.login.jws import parse_compact
from bridge.login.keysets import KeySet
from bridge.login.verifier import Verifier
from bridge.settings.login import PROJECT_CLAIM

__all__ = ["LoginSystems"]


class LoginSystems:
    """The configured login systems, as one verifier: :meth:`verify` and :attr:`ready`."""

    def __init__(self, verifiers: Sequence[Verifier], issuers: Sequence[str | None]) -> None:
        if not verifiers or len(verifiers) != len(issuers):
            raise ValueError("one issuer per login system, and at least one system")
        self._verifiers = tuple(verifiers)
        self._only = verifiers[0] if len(verifiers) == 1 else None
        # issuer -> its systems by project (None: the issuer's one system, whatever project)
        by_issuer: dict[str, dict[str | None, Verifier]] = {}
        for verifier, issuer in zip(verifiers, issuers, strict=True):
            if self._only is None and issuer is None:
                raise ValueError("with several login systems, each needs an issuer")
            if issuer is None:
                continue
            projects = by_issuer.setdefault(issuer, {})
            if verifier.project in projects or (projects and verifier.project is None):
                raise ValueError("two login systems have the same issuer and project")
            projects[verifier.project] = verifier
        for projects in by_issuer.values():
            if len(projects) > 1 and None in projects:
                raise ValueError("login systems sharing an issuer each need a project_id")
        self._by_issuer = by_issuer
        self._algorithms = frozenset().union(*(v.algorithms for v in verifiers))
        self._max_token = max(v.max_token_bytes for v in verifiers)
        self._cookies = tuple(dict.fromkeys(verifier.cookie for verifier in verifiers))

    @property
    def keysets(self) -> list[KeySet]:
        """The published key sets of the RS/PS/ES systems."""
        return [v.keyset for v in self._verifiers if v.keyset is not None]

    @property
    def ready(self) -> bool:
        """Whether every RS/PS/ES system has obtained its keys at least once."""
        return all(verifier.ready for verifier in self._verifiers)

    async def load_keys(self) -> bool:
        """Ask every login system that never obtained its keys for them (each key set's
        cooldown applies); the resulting :attr:`ready`."""
        loaded = [await verifier.load_keys() for verifier in self._verifiers]
        return all(loaded)

    async def warm_up(self, *, retry: float = 5.0) -> None:
        """Fetch the keys of every system that has none yet, again every ``retry`` seconds
        until each has them: so that an instance becomes ready before its first request."""
        while True:
            pending = [keyset for keyset in self.keysets if not keyset.loaded]
            if not pending:
                return
            await asyncio.gather(*(keyset.load() for keyset in pending))
            if all(keyset.loaded for keyset in pending):
                return
            await asyncio.sleep(retry)

    @property
    def cookies(self) -> tuple[str, ...]:
        """The systems' cookie names, each once, in the configured order."""
        return self._cookies

    def cached_identity(self, token: str, *, cookie: str) -> Identity | None:
        """The identity remembered for ``token`` by the system that verified it, while it
        still holds and that system uses ``cookie``; else None (:meth:`verify` then decides)."""
        if self._only is not None:
            return self._only.cached_identity(token)
        for verifier in self._verifiers:
            identity = verifier.cached_identity(token)
            if identity is not None:
                return identity if verifier.cookie == cookie else None
        return None

    async def verify(self, token: str, *, cookie: str | None = None) -> Identity:
        """The identity in ``token``, verified by the system its ``iss`` names; raise
        ``TokenInvalid``, ``SubjectMissing`` or ``KeysUnavailable`` as that system does.

        With ``cookie`` (the cookie the token came in), that system must use that cookie.
        """
        if self._only is not None:
            return await self._only.verify(token)
        for verifier in self._verifiers:  # a few dict look-ups: the token string is the key
            identity = verifier.cached_identity(token)
            if identity is not None:
                if cookie is not None and verifier.cookie != cookie:
                    raise TokenInvalid(reason="wrong_cookie")
                return identity
        parsed = parse_compact(token, algorithms=self._algorithms, max_bytes=self._max_token)
        payload = parsed.payload
        iss = payload.get("iss")
        projects = self._by_issuer.get(iss) if isinstance(iss, str) else None
        if projects is None:
            raise TokenInvalid(reason="unknown_iss")
        system = projects.get(None)
        if system is None:
            # the issuer's systems are projects: the token's own names the one (an exact
            # string; a missing, unknown or non-string claim names none, and fetches no keys)
            project = payload.get(PROJECT_CLAIM)
            system = projects.get(project) if isinstance(project, str) else None
            if system is None:
                raise TokenInvalid(reason="unknown_project")
        if cookie is not None and system.cookie != cookie:
            raise TokenInvalid(reason="wrong_cookie")
        return await system.verify_parsed(token, parsed)


async def verify_cookies(systems: LoginSystems, cookie_headers: Iterable[str]) -> Identity:
    """The identity in the systems' cookies, each checked by a system that uses that cookie.

    Each name is read as :func:`~bridge.login.cookies.read_cookie` does (two different values
    under one name are refused). Every cookie that is there is verified: valid tokens naming two
    different subjects are refused as ``ambiguous_login``, whichever cookies they came in and in
    whatever order (a sibling site that tosses in a cookie of another login system must not
    choose whose widgets a visitor gets). Tokens that do not verify are passed over; when none
    verifies, the first one's refusal is raised (:class:`TokenMissing` when none is there).
    """
    names = systems.cookies
    if len(names) == 1:  # the usual case, on the hot path
        return await systems.verify(read_cookie(cookie_headers, names[0]), cookie=names[0])
    headers = tuple(cookie_headers)
    first: TokenError | None = None
    found: Identity | None = None
    for name in names:
        try:
            identity = await systems.verify(read_cookie(headers, name), cookie=name)
        except TokenMissing:
            continue
        except TokenError as exc:
            if first is None:
                first = exc
            continue
        if found is None:
            found = identity
        elif identity.sub != found.sub:
            raise TokenInvalid(reason="ambiguous_login")
    if found is not None:
        return found
    raise first if first is not None else TokenMissing()
