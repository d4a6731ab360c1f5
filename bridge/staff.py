"""Who a staff caller is: a staff API key, or a login whose token carries the staff group.

API keys are compared as SHA-256 digests with ``hmac.compare_digest`` against *every*
configured key (no early exit, equal lengths), and the caller is named by the key's position
(``key#1``), never by the key. A login cookie counts only when ``staff.login_group`` is set,
the login system that verified the token is one of ``staff.login_systems`` (whatever cookie the
token came in: two systems may share a cookie name, so the cookie proves nothing), and the
token's ``groups`` (Xsolla Login's array of ``{id, name, is_default}``) has that name; the
caller is then ``login:{sub}``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from typing import Any

from bridge.errors import StaffUnauthorized, TokenError, TokenMissing
from bridge.login.identity import Identity
from bridge.zendesk.users import LOGIN_USER_ID

#: the login user in a request's ``Cookie`` headers (every login system's cookies)
Verify = Callable[[Iterable[str]], Awaitable[Identity]]


class StaffAuth:
    """Decides who the staff caller is, or raises :class:`StaffUnauthorized`."""

    def __init__(
        self,
        api_keys: Sequence[bytes],
        *,
        login_group: str | None = None,
        login_systems: Collection[str] = (),
        verify: Verify | None = None,
    ) -> None:
        self._digests = [hashlib.sha256(key).digest() for key in api_keys]
        self._login_group = login_group if verify is not None and login_systems else None
        self._login_systems = frozenset(login_systems)
        self._verify = verify

    @property
    def accepts_login_cookie(self) -> bool:
        return self._login_group is not None

    def _key_index(self, candidate: str) -> int:
        """1-based index of the matching key, 0 for none; always compares with all keys."""
        digest = hashlib.sha256(candidate.encode("utf-8", "surrogateescape")).digest()
        found = 0
        for index, known in enumerate(self._digests, start=1):
            if hmac.compare_digest(digest, known) and not found:
                found = index
        return found

    async def authenticate(self, authorization: str | None, cookie_headers: Iterable[str]) -> str:
        """The staff identifier for the audit line: ``key#N`` or ``login:{sub}``.

        An ``Authorization`` header, when there is one, decides alone: a wrong key is refused
        even if a staff login cookie came along.
        """
        if authorization is not None:
            scheme, _, credential = authorization.strip().partition(" ")
            credential = credential.strip()
            if scheme.lower() != "bearer" or not credential:
                raise StaffUnauthorized(reason="bad_authorization_header")
            index = self._key_index(credential)
            if not index:
                raise StaffUnauthorized(reason="unknown_staff_key")
            return f"key#{index}"
        if self._login_group is not None and self._verify is not None:
            try:
                identity = await self._verify(cookie_headers)
            except TokenMissing:
                raise StaffUnauthorized(reason="no_staff_credentials") from None
            except TokenError:
                raise StaffUnauthorized(reason="invalid_login_token") from None
            if identity.login not in self._login_systems:
                raise StaffUnauthorized(reason="login_system_not_staff")
            if not _in_group(identity.claims.get("groups"), self._login_group):
                raise StaffUnauthorized(reason="not_in_staff_group")
            sub = identity.sub
            if LOGIN_USER_ID.fullmatch(sub) is None:  # keep odd subjects out of log lines
                sub = "#" + hashlib.sha256(sub.encode()).hexdigest()[:12]
            return f"login:{sub}"
        raise StaffUnauthorized(reason="no_staff_credentials")


def _in_group(groups: Any, name: str) -> bool:
    """Xsolla Login's ``groups`` claim: an array of ``{id, name, is_default}``."""
    if not isinstance(groups, list):
        return False
    return any(isinstance(group, dict) and group.get("name") == name for group in groups)
