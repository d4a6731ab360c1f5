"""Zendesk Support users: which Support users carry this login user id as ``external_id``?

``GET {support base}/api/v2/users/search?external_id=...`` behind the cache (how Messaging
conversations are linked to login users). Zendesk matches case-insensitively; answers whose
``external_id`` does not match at all are dropped, so an API that ignored the filter cannot
make unrelated users look linked. A non-empty answer is cached for ``ttl``, an empty one (not
linked yet) for ``negative_ttl``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bridge.errors import InvalidIdentifier, NotFound, Source, VendorBadResponse
from bridge.vendors.fields import id_string, malformed, optional_str
from bridge.vendors.lookup import CachedLookup
from bridge.zendesk.source import answered_by

#: a login user id (Xsolla: a UUID); Zendesk's ``external_id`` is at most 255 characters
LOGIN_USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,254}$")


@dataclass(frozen=True)
class ZendeskUser:
    #: Support user ids are integers in Zendesk; given as strings, like visitor ids
    id: str
    name: str | None = None
    email: str | None = None
    external_id: str | None = None
    role: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "external_id": self.external_id,
            "role": self.role,
        }


@dataclass(frozen=True)
class LoginUserLinkage:
    login_user_id: str
    users: tuple[ZendeskUser, ...]
    source: Source

    @property
    def linked(self) -> bool:
        return bool(self.users)

    def as_json(self) -> dict[str, Any]:
        return {
            "login_user_id": self.login_user_id,
            "users": [user.as_json() for user in self.users],
            "linked": self.linked,
            "source": self.source,
        }


def parse_user(data: Any) -> ZendeskUser:
    if not isinstance(data, dict):
        raise malformed("user")
    return ZendeskUser(
        id=id_string(data.get("id")),
        name=optional_str(data, "name"),
        email=optional_str(data, "email"),
        external_id=optional_str(data, "external_id"),
        role=optional_str(data, "role"),
    )


def parse_users(data: Any) -> tuple[ZendeskUser, ...]:
    """The users of a cache entry (a JSON list) or of a search answer (``{"users": [...]}``)."""
    if isinstance(data, dict):
        data = data.get("users")
    if not isinstance(data, list):
        raise malformed("users")
    return tuple(parse_user(item) for item in data)


def validate_login_user_id(login_user_id: str) -> str:
    if not LOGIN_USER_ID.fullmatch(login_user_id) or ".." in login_user_id:
        raise InvalidIdentifier("Malformed login user id", reason="invalid_login_user_id")
    return login_user_id


class LoginUserLookup(CachedLookup[tuple[ZendeskUser, ...]]):
    """Support users by ``external_id``, behind the cache."""

    kind = "login_user"

    async def lookup(self, login_user_id: str) -> LoginUserLinkage:
        login_user_id = validate_login_user_id(login_user_id)
        found = await self.get(login_user_id)
        return LoginUserLinkage(login_user_id, found.value or (), answered_by(found))

    async def fetch(self, ident: str, deadline_at: float) -> tuple[ZendeskUser, ...]:
        try:
            data = await self._client.get_json(
                "/api/v2/users/search", params={"external_id": ident}, deadline_at=deadline_at
            )
        except NotFound:
            # the search endpoint itself is missing: a wrong base_url, not "no users"
            raise VendorBadResponse(reason="search_404") from None
        wanted = ident.casefold()
        return tuple(u for u in parse_users(data) if (u.external_id or "").casefold() == wanted)

    def encode(self, value: tuple[ZendeskUser, ...]) -> Any:
        return [user.as_json() for user in value]

    def decode(self, data: Any) -> tuple[ZendeskUser, ...]:
        return parse_users(data)

    def ttl_for(self, value: tuple[ZendeskUser, ...]) -> float:
        return self._ttl if value else self._negative_ttl
