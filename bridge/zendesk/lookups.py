"""The two Zendesk APIs as ``lookups`` entries (``zendesk_chat``, ``zendesk_support``): the same
settings as ``zendesk_chat_api`` and ``zendesk_support_api``, the same clients
(:mod:`bridge.zendesk.clients`), asked by the login user's id.

    zendesk_support   GET {base}/api/v2/users/search?external_id=ID  (exact, case-insensitive)
    zendesk_chat      GET {chat base}/visitors/{visitor_id}: the Chat API finds visitors by
                      their own id only, so in the view of one login user this lookup is
                      ``skipped`` (``not_searchable``) and asks nothing
"""

from __future__ import annotations

from typing import Any, Literal

from bridge.errors import NotFound, VendorBadResponse
from bridge.lookups.base import LookupParts, Record, Records, ToolLookup
from bridge.settings.lookups import ApiUrl
from bridge.settings.zendesk import ZendeskChatApiSettings, ZendeskSupportApiSettings
from bridge.zendesk.clients import chat_client, support_client
from bridge.zendesk.users import parse_users
from bridge.zendesk.visitors import parse_visitor


class ZendeskChatLookup(ZendeskChatApiSettings):
    """``zendesk_chat_api``'s settings, as a ``lookups`` entry."""

    type: Literal["zendesk_chat"]
    base_url: ApiUrl

    def build(self, name: str, parts: LookupParts) -> ToolLookup:
        client = chat_client(parts.session, self, clock=parts.clock, metrics=parts.metrics)
        return ChatVisitors(name, self.type, client, parts)


class ZendeskSupportLookup(ZendeskSupportApiSettings):
    """``zendesk_support_api``'s settings, as a ``lookups`` entry."""

    type: Literal["zendesk_support"]
    base_url: ApiUrl

    def build(self, name: str, parts: LookupParts) -> ToolLookup:
        client = support_client(parts.session, self, clock=parts.clock, metrics=parts.metrics)
        return SupportUsers(name, self.type, client, parts)


def zendesk_apis(
    settings: Any,
) -> tuple[ZendeskChatApiSettings | None, ZendeskSupportApiSettings | None]:
    """The Chat and Support APIs of ``/v1/visitors`` and ``/zendesk``: ``zendesk_chat_api`` and
    ``zendesk_support_api``, else the first ``lookups`` entry of that type."""
    chat, support = settings.zendesk_chat_api, settings.zendesk_support_api
    for entry in settings.lookups.values():
        if chat is None and isinstance(entry, ZendeskChatLookup):
            chat = entry
        if support is None and isinstance(entry, ZendeskSupportLookup):
            support = entry
    return chat, support


class SupportUsers(ToolLookup):
    keyed_by = "external_id"

    async def records(self, key: str, deadline_at: float) -> Records:
        try:
            data = await self._client.get_json(
                "/api/v2/users/search", params={"external_id": key}, deadline_at=deadline_at
            )
        except NotFound:
            raise VendorBadResponse(reason="search_404") from None
        wanted = key.casefold()
        base = self._client.base_url
        return tuple(
            Record(u.id, u.name, u.email, u.external_id, f"{base}/agent/users/{u.id}")
            for u in parse_users(data)
            if (u.external_id or "").casefold() == wanted
        )


class ChatVisitors(ToolLookup):
    """Chat visitors by visitor id (the only key the Chat API finds them by)."""

    keyed_by = "visitor_id"

    async def records(self, key: str, deadline_at: float) -> Records:
        try:
            data = await self._client.get_json(f"/visitors/{key}", deadline_at=deadline_at)
        except NotFound:
            return ()
        visitor = parse_visitor(data)
        return (Record(visitor.id, visitor.name, visitor.email, visitor.external_id),)
