"""``front``: Front contacts, by email.

``GET {base_url}/contacts/alt:email:{email}``, an API token as Bearer; the contact (``id``,
``name``, ``handles``), 404 when there is none.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from bridge.errors import NotFound
from bridge.lookups.base import LookupParts, Record, Records, ToolLookup, tool_client
from bridge.settings.base import SecretSource
from bridge.settings.lookups import ApiUrl, LookupSettings
from bridge.vendors.fields import id_string, malformed, optional_str


class FrontLookup(LookupSettings):
    """An API token from Front's Settings > Developers > API tokens (scope: contacts read)."""

    type: Literal["front"]
    base_url: ApiUrl = "https://api2.frontapp.com"
    api_token: SecretSource

    def build(self, name: str, parts: LookupParts) -> ToolLookup:
        client = tool_client(
            parts, self, name=name, type_=self.type, vendor="front",
            authorization="Bearer " + self.api_token.secret.reveal().decode(),
        )  # fmt: skip
        return FrontContacts(name, self.type, client, parts)


def parse_contact(data: Any) -> Record:
    if not isinstance(data, dict):
        raise malformed("contact")
    handles = data.get("handles") or []
    if not isinstance(handles, list):
        raise malformed("handles")
    emails = [
        h.get("handle")
        for h in handles
        if isinstance(h, dict) and h.get("source") == "email" and isinstance(h.get("handle"), str)
    ]
    return Record(
        id=id_string(data.get("id")),
        name=optional_str(data, "name"),
        email=emails[0] if emails else None,
    )


class FrontContacts(ToolLookup):
    keyed_by = "email"

    async def records(self, key: str, deadline_at: float) -> Records:
        try:
            data = await self._client.get_json(
                "/contacts/alt:email:" + quote(key, safe="@"), deadline_at=deadline_at
            )
        except NotFound:
            return ()
        return (parse_contact(data),)
