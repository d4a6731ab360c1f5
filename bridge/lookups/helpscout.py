"""``helpscout``: Help Scout customers, by email.

``POST {base_url}/v2/oauth2/token`` (``grant_type=client_credentials``, ``client_id``,
``client_secret``) for a bearer token, reused until its ``expires_in`` (shared through the cache,
so Redis when configured), fetched again once when a search is answered 401; then
``GET {base_url}/v2/customers?query=(email:"EMAIL")``. Help Scout matches emails that merely
*contain* the text: only customers with exactly that email (case-insensitively) count.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, Literal

from bridge.errors import NotFound, VendorAuthFailed, VendorBadResponse
from bridge.lookups.base import LookupParts, Record, Records, ToolLookup, full_name, tool_client
from bridge.settings.base import SecretSource
from bridge.settings.lookups import ApiUrl, LookupSettings, PlainId
from bridge.vendors.fields import id_string, malformed

#: a token is used until this many seconds before Help Scout says it expires
EXPIRY_MARGIN = 60.0


class HelpScoutLookup(LookupSettings):
    """An OAuth2 app (client id and secret) from Help Scout's Your Profile > My Apps."""

    type: Literal["helpscout"]
    base_url: ApiUrl = "https://api.helpscout.net"
    client_id: PlainId
    client_secret: SecretSource

    def build(self, name: str, parts: LookupParts) -> ToolLookup:
        client = tool_client(
            parts, self, name=name, type_=self.type, vendor="helpscout", authorization=""
        )
        secret = self.client_secret.secret.reveal().decode()
        return HelpScoutCustomers(
            name, self.type, client, parts, client_id=self.client_id, client_secret=secret
        )


def parse_customers(data: Any) -> list[tuple[Record, list[str]]]:
    """Each customer's record with all its emails."""
    embedded = data.get("_embedded", {}) if isinstance(data, dict) else None
    if not isinstance(embedded, dict):
        raise malformed("customers")
    items = embedded.get("customers", [])
    if not isinstance(items, list):
        raise malformed("customers")
    found = []
    for item in items:
        if not isinstance(item, dict):
            raise malformed("customer")
        inner = item.get("_embedded") or {}
        emails = inner.get("emails") if isinstance(inner, dict) else None
        raw = [e.get("value") for e in emails or [] if isinstance(e, dict)]
        values: list[str] = [value for value in raw if isinstance(value, str)]
        record = Record(
            id=id_string(item.get("id")),
            name=full_name(item.get("firstName"), item.get("lastName")),
        )
        found.append((record, values))
    return found


class HelpScoutCustomers(ToolLookup):
    keyed_by = "email"

    def __init__(self, *args: Any, client_id: str, client_secret: str) -> None:
        super().__init__(*args)
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        }
        # the token's cache key names the app, never its secret
        self._token_key = self._cache.key(
            "helpscout_token", hashlib.sha256(f"{self.name}:{client_id}".encode()).hexdigest()
        )
        self._token_lock = asyncio.Lock()

    async def _token(self, deadline_at: float, *, stale: str | None = None) -> str:
        """The current token: the cache's, else a new one (one fetch at a time per process).
        ``stale`` is a token Help Scout refused: it is never handed out again."""
        async with self._token_lock:
            cached = await self._cache.get(self._token_key)
            if cached is not None and cached.decode() != stale:
                return cached.decode()
            answer = await self._client.post_form(
                "/v2/oauth2/token", self._form, deadline_at=deadline_at
            )
            token = answer.get("access_token") if isinstance(answer, dict) else None
            expires_in = answer.get("expires_in") if isinstance(answer, dict) else None
            if not isinstance(token, str) or not token or not token.isprintable():
                raise malformed("access_token")
            if not isinstance(expires_in, int) or isinstance(expires_in, bool):
                raise malformed("expires_in")
            ttl = expires_in - EXPIRY_MARGIN
            if ttl > 0:
                await self._cache.set(self._token_key, token.encode(), ttl)
            return token

    async def _search(self, token: str, key: str, deadline_at: float) -> Any:
        params = {"query": f'(email:"{key}")'}
        try:
            return await self._client.get_json_as(
                "Bearer " + token, "/v2/customers", params=params, deadline_at=deadline_at
            )
        except NotFound:
            raise VendorBadResponse(reason="search_404") from None

    async def records(self, key: str, deadline_at: float) -> Records:
        token = await self._token(deadline_at)
        try:
            data = await self._search(token, key, deadline_at)
        except VendorAuthFailed:
            # expired or revoked early: one new token, one more try
            token = await self._token(deadline_at, stale=token)
            data = await self._search(token, key, deadline_at)
        wanted = key.casefold()
        return tuple(
            Record(id=record.id, name=record.name, email=key)
            for record, emails in parse_customers(data)
            if any(email.casefold() == wanted for email in emails)
        )
