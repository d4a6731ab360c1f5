"""``crisp``: Crisp people profiles, by email.

``GET {base_url}/v1/website/{website_id}/people/profile/{email}``, HTTP Basic
``identifier:key`` with ``X-Crisp-Tier: plugin``; ``{"error": false, "data": {...}}``, 404
when there is none.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from bridge.errors import NotFound
from bridge.lookups.base import LookupParts, Record, Records, ToolLookup, basic, tool_client
from bridge.settings.base import SecretSource
from bridge.settings.lookups import ApiUrl, LookupSettings, PlainId
from bridge.vendors.fields import id_string, malformed, optional_str


class CrispLookup(LookupSettings):
    """A plugin token (identifier and key) from the Crisp Marketplace, with the
    ``website:people:profiles`` read scope, for the website ``website_id``."""

    type: Literal["crisp"]
    base_url: ApiUrl = "https://api.crisp.chat"
    website_id: PlainId
    identifier: PlainId
    key: SecretSource

    def build(self, name: str, parts: LookupParts) -> ToolLookup:
        authorization = basic(self.identifier, self.key.secret.reveal().decode())
        client = tool_client(
            parts, self, name=name, type_=self.type, vendor="crisp", authorization=authorization,
            headers={"X-Crisp-Tier": "plugin"},
        )  # fmt: skip
        return CrispPeople(name, self.type, client, parts, website_id=self.website_id)


def parse_profile(data: Any) -> Record:
    profile = data.get("data") if isinstance(data, dict) else None
    if not isinstance(profile, dict) or data.get("error") is not False:
        raise malformed("profile")
    person = profile.get("person") or {}
    if not isinstance(person, dict):
        raise malformed("person")
    return Record(
        id=id_string(profile.get("people_id"), "people_id"),
        name=optional_str(person, "nickname"),
        email=optional_str(profile, "email"),
    )


class CrispPeople(ToolLookup):
    keyed_by = "email"

    def __init__(self, *args: Any, website_id: str) -> None:
        super().__init__(*args)
        self._path = f"/v1/website/{quote(website_id, safe='')}/people/profile/"

    async def records(self, key: str, deadline_at: float) -> Records:
        try:
            data = await self._client.get_json(
                self._path + quote(key, safe="@"), deadline_at=deadline_at
            )
        except NotFound:
            return ()
        return (parse_profile(data),)
