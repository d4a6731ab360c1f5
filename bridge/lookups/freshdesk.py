"""``freshdesk``: Freshdesk contacts, by external id.

``GET {base_url}/api/v2/contacts?unique_external_id=ID``, HTTP Basic ``api_key:X``; a JSON
array. Only contacts whose ``unique_external_id`` is exactly the id count.
"""

from __future__ import annotations

from typing import Any, Literal

from bridge.lookups.base import LookupParts, Record, Records, ToolLookup, basic, tool_client
from bridge.settings.base import SecretSource
from bridge.settings.lookups import LookupSettings
from bridge.vendors.fields import id_string, malformed, optional_str


class FreshdeskLookup(LookupSettings):
    """``https://{subdomain}.freshdesk.com``; the API key from an agent's Profile settings."""

    type: Literal["freshdesk"]
    api_key: SecretSource

    def build(self, name: str, parts: LookupParts) -> ToolLookup:
        authorization = basic(self.api_key.secret.reveal().decode(), "X")
        client = tool_client(
            parts, self, name=name, type_=self.type, vendor="freshdesk", authorization=authorization
        )
        return FreshdeskContacts(name, self.type, client, parts)


def parse_contacts(data: Any, *, app_url: str) -> list[Record]:
    if not isinstance(data, list):
        raise malformed("contacts")
    records = []
    for item in data:
        if not isinstance(item, dict):
            raise malformed("contact")
        ident = id_string(item.get("id"))
        records.append(
            Record(
                id=ident,
                name=optional_str(item, "name"),
                email=optional_str(item, "email"),
                external_id=optional_str(item, "unique_external_id"),
                url=f"{app_url}/a/contacts/{ident}",
            )
        )
    return records


class FreshdeskContacts(ToolLookup):
    keyed_by = "external_id"

    async def records(self, key: str, deadline_at: float) -> Records:
        data = await self._client.get_json(
            "/api/v2/contacts", params={"unique_external_id": key}, deadline_at=deadline_at
        )
        found = parse_contacts(data, app_url=self._client.base_url)
        return tuple(r for r in found if r.external_id == key)
