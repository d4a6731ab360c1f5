"""``hubspot_crm``: HubSpot CRM contacts, by email.

``GET {base_url}/crm/v3/objects/contacts/{email}?idProperty=email&properties=email,firstname,
lastname``, a private app's token as Bearer (scope ``crm.objects.contacts.read``); 404 when
there is none.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from bridge.errors import NotFound
from bridge.lookups.base import LookupParts, Record, Records, ToolLookup, full_name, tool_client
from bridge.settings.base import SecretSource
from bridge.settings.lookups import ApiUrl, LookupSettings
from bridge.vendors.fields import id_string, malformed, optional_str

PARAMS = {"idProperty": "email", "properties": "email,firstname,lastname"}


class HubSpotCrmLookup(LookupSettings):
    """A private app's access token with the ``crm.objects.contacts.read`` scope."""

    type: Literal["hubspot_crm"]
    base_url: ApiUrl = "https://api.hubapi.com"
    access_token: SecretSource

    def build(self, name: str, parts: LookupParts) -> ToolLookup:
        client = tool_client(
            parts, self, name=name, type_=self.type, vendor="hubspot",
            authorization="Bearer " + self.access_token.secret.reveal().decode(),
        )  # fmt: skip
        return HubSpotContacts(name, self.type, client, parts)


def parse_contact(data: Any) -> Record:
    properties = data.get("properties") if isinstance(data, dict) else None
    if not isinstance(properties, dict):
        raise malformed("contact")
    return Record(
        id=id_string(data.get("id")),
        name=full_name(properties.get("firstname"), properties.get("lastname")),
        email=optional_str(properties, "email"),
    )


class HubSpotContacts(ToolLookup):
    keyed_by = "email"

    async def records(self, key: str, deadline_at: float) -> Records:
        path = "/crm/v3/objects/contacts/" + quote(key, safe="@")
        try:
            data = await self._client.get_json(path, params=PARAMS, deadline_at=deadline_at)
        except NotFound:
            return ()
        return (parse_contact(data),)
