"""``sunshine_conversations``: Zendesk Messaging's users, by external id.

``GET {base_url}/v2/apps/{app_id}/users/{external_id}`` (the path takes our external id
directly), HTTP Basic ``key_id:secret``; ``{"user": {...}}``, 404 when there is none.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from bridge.errors import NotFound
from bridge.lookups.base import (
    LookupParts,
    Record,
    Records,
    ToolLookup,
    basic,
    full_name,
    tool_client,
)
from bridge.settings.base import SecretSource
from bridge.settings.lookups import LookupSettings, PlainId
from bridge.vendors.fields import id_string, malformed, optional_str


class SunshineConversationsLookup(LookupSettings):
    """``https://{subdomain}.zendesk.com/sc``; keys from Admin Center > Apps and integrations
    > Conversations API."""

    type: Literal["sunshine_conversations"]
    app_id: PlainId
    key_id: PlainId
    secret: SecretSource

    def build(self, name: str, parts: LookupParts) -> ToolLookup:
        authorization = basic(self.key_id, self.secret.secret.reveal().decode())
        client = tool_client(
            parts, self, name=name, type_=self.type, vendor="zendesk", authorization=authorization
        )
        return MessagingUsers(name, self.type, client, parts, app_id=self.app_id)


def parse_user(data: Any, *, app_url: str | None) -> Record:
    user = data.get("user") if isinstance(data, dict) else None
    if not isinstance(user, dict):
        raise malformed("user")
    profile = user.get("profile") or {}
    if not isinstance(profile, dict):
        raise malformed("profile")
    zendesk_id = user.get("zendeskId")
    url = None
    if app_url is not None and isinstance(zendesk_id, (str, int)) and str(zendesk_id).isalnum():
        url = f"{app_url}/agent/users/{zendesk_id}"
    return Record(
        id=id_string(user.get("id")),
        name=full_name(profile.get("givenName"), profile.get("surname")),
        email=optional_str(profile, "email"),
        external_id=optional_str(user, "externalId"),
        url=url,
    )


class MessagingUsers(ToolLookup):
    keyed_by = "external_id"

    def __init__(self, *args: Any, app_id: str) -> None:
        super().__init__(*args)
        self._path = f"/v2/apps/{quote(app_id, safe='')}/users/"
        base = self._client.base_url
        self._app_url = base.removesuffix("/sc") if base.endswith("/sc") else None

    async def records(self, key: str, deadline_at: float) -> Records:
        try:
            data = await self._client.get_json(
                self._path + quote(key, safe=""), deadline_at=deadline_at
            )
        except NotFound:
            return ()
        return (parse_user(data, app_url=self._app_url),)
