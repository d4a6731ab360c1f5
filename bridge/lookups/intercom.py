"""``intercom``: Intercom contacts, by external id.

``POST {base_url}/contacts/search`` with ``{"query": {"field": "external_id", "operator": "=",
"value": ID}}``, Bearer, ``Intercom-Version: 2.11``; ``{"type": "list", "data": [...]}``. Only
contacts whose ``external_id`` is exactly the id count.
"""

from __future__ import annotations

from typing import Any, Literal

from bridge.lookups.base import LookupParts, Record, Records, ToolLookup, tool_client
from bridge.settings.base import SecretSource
from bridge.settings.lookups import ApiUrl, LookupSettings
from bridge.vendors.fields import id_string, malformed, optional_str

API_VERSION = "2.11"


class IntercomLookup(LookupSettings):
    """An access token from the Intercom Developer Hub (an app's Authentication page)."""

    type: Literal["intercom"]
    base_url: ApiUrl = "https://api.intercom.io"
    access_token: SecretSource

    def build(self, name: str, parts: LookupParts) -> ToolLookup:
        client = tool_client(
            parts, self, name=name, type_=self.type, vendor="intercom",
            authorization="Bearer " + self.access_token.secret.reveal().decode(),
            headers={"Intercom-Version": API_VERSION},
        )  # fmt: skip
        return IntercomContacts(name, self.type, client, parts)


def parse_contacts(data: Any) -> list[Record]:
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise malformed("contacts")
    records = []
    for item in items:
        if not isinstance(item, dict):
            raise malformed("contact")
        records.append(
            Record(
                id=id_string(item.get("id")),
                name=optional_str(item, "name"),
                email=optional_str(item, "email"),
                external_id=optional_str(item, "external_id"),
            )
        )
    return records


class IntercomContacts(ToolLookup):
    keyed_by = "external_id"

    async def records(self, key: str, deadline_at: float) -> Records:
        query = {"query": {"field": "external_id", "operator": "=", "value": key}}
        data = await self._client.post_json("/contacts/search", query, deadline_at=deadline_at)
        return tuple(r for r in parse_contacts(data) if r.external_id == key)
