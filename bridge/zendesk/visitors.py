"""Zendesk Chat visitors: which login user is this Chat visitor?

``GET {chat base}/visitors/{id}`` behind the cache. The visitor id is validated before any
cache or Zendesk access; the answer is parsed strictly (anything unexpected is a 502).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from bridge.errors import InvalidIdentifier, NotFound, Source, VisitorNotFound
from bridge.vendors.fields import id_string, malformed, optional_str
from bridge.vendors.lookup import CachedLookup
from bridge.zendesk.source import answered_by

#: a Chat visitor id, e.g. ``9855790.xjj3ukxyIhn6j3``; ``..`` is refused separately
VISITOR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class Visitor:
    id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    notes: str | None = None
    banned: bool | None = None
    #: as Zendesk gave it: epoch seconds (a number) or an ISO 8601 string
    created: int | float | str | None = None
    external_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "notes": self.notes,
            "banned": self.banned,
            "created": self.created,
            "external_id": self.external_id,
        }


@dataclass(frozen=True)
class VisitorVerdict:
    visitor: Visitor
    source: Source

    @property
    def linked(self) -> bool:
        return bool(self.visitor.external_id)

    @property
    def login_user_id(self) -> str | None:
        return self.visitor.external_id or None

    def as_json(self) -> dict[str, Any]:
        return {
            "visitor": self.visitor.as_json(),
            "linked": self.linked,
            "login_user_id": self.login_user_id,
            "source": self.source,
        }


def _created(value: Any) -> int | float | str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise malformed("created")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise malformed("created")
        return value
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise malformed("created") from None
        return value
    raise malformed("created")


def parse_visitor(data: Any, requested_id: str | None = None) -> Visitor:
    """A :class:`Visitor` from the Chat API's visitor object; VendorBadResponse if malformed."""
    if not isinstance(data, dict):
        raise malformed("visitor")
    raw_id = data.get("id")
    if raw_id is None and requested_id is not None:
        raw_id = requested_id
    banned = data.get("banned")
    if banned is not None and not isinstance(banned, bool):
        raise malformed("banned")
    return Visitor(
        id=id_string(raw_id),
        name=optional_str(data, "name"),
        email=optional_str(data, "email"),
        phone=optional_str(data, "phone"),
        notes=optional_str(data, "notes"),
        banned=banned,
        created=_created(data.get("created")),
        external_id=optional_str(data, "external_id"),
    )


def validate_visitor_id(visitor_id: str) -> str:
    if not VISITOR_ID.fullmatch(visitor_id) or ".." in visitor_id:
        raise InvalidIdentifier("Malformed visitor id", reason="invalid_visitor_id")
    return visitor_id


class VisitorLookup(CachedLookup[Visitor]):
    """``GET {chat base}/visitors/{id}`` behind the cache."""

    kind = "visitor"

    async def lookup(self, visitor_id: str) -> VisitorVerdict:
        visitor_id = validate_visitor_id(visitor_id)
        found = await self.get(visitor_id)
        if found.value is None:
            raise VisitorNotFound(source=answered_by(found))
        return VisitorVerdict(found.value, answered_by(found))

    async def fetch(self, ident: str, deadline_at: float) -> Visitor | None:
        try:
            data = await self._client.get_json(
                "/visitors/" + quote(ident, safe=""), deadline_at=deadline_at
            )
        except NotFound:
            return None
        return parse_visitor(data, ident)

    def encode(self, value: Visitor) -> Any:
        return value.as_json()

    def decode(self, data: Any) -> Visitor:
        return parse_visitor(data)
