"""Vendor clients and lookups built directly (no gateway app), against the Zendesk stand-in."""

from __future__ import annotations

from typing import Any

import aiohttp

from bridge.cache import MemoryCache
from bridge.vendors.client import VendorClient
from bridge.zendesk.visitors import VisitorLookup
from tests.support.fake_zendesk import CHAT_TOKEN

LINKED = "9855790.xjj3ukxyIhn6j3"
ANONYMOUS = "9855790.anonymous1"


def chat(session: aiohttp.ClientSession, base_url: str, **knobs: Any) -> VendorClient:
    """A Chat API client with the tests' token and quick backoff."""
    knobs.setdefault("backoff_base", 0.01)
    return VendorClient(
        session,
        base_url=base_url,
        authorization=f"Bearer {CHAT_TOKEN}",
        vendor="zendesk",
        api="chat",
        **knobs,
    )


def lookup_for(client: VendorClient, cache: MemoryCache | None = None) -> VisitorLookup:
    return VisitorLookup(client, MemoryCache() if cache is None else cache, ttl=60, negative_ttl=5)
