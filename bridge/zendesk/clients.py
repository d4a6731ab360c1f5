"""The two Zendesk API clients, built from settings: Chat (OAuth Bearer) and Support (API
token Basic, or OAuth Bearer). Both are a :class:`~bridge.vendors.client.VendorClient`
counted and logged as vendor ``zendesk``."""

from __future__ import annotations

import base64
import time
from typing import Any

import aiohttp

from bridge.metrics import Metrics
from bridge.settings.zendesk import ZendeskChatApiSettings, ZendeskSupportApiSettings
from bridge.vendors.client import Clock, VendorClient, vendor_breaker

Settings = ZendeskChatApiSettings | ZendeskSupportApiSettings


def _client(
    session: aiohttp.ClientSession,
    settings: Settings,
    *,
    api: str,
    base_url: str,
    authorization: str,
    clock: Clock,
    metrics: Metrics | None,
    knobs: dict[str, Any],
) -> VendorClient:
    """A Zendesk API's client with that API's deadline, retries, body cap and breaker."""
    breaker = vendor_breaker(
        failures=settings.breaker_failures,
        cooldown=settings.breaker_cooldown,
        clock=clock,
        metrics=metrics,
        vendor="zendesk",
        api=api,
    )
    return VendorClient(
        session,
        base_url=base_url,
        authorization=authorization,
        deadline=settings.deadline,
        max_retries=settings.max_retries,
        max_body_bytes=settings.max_body_bytes,
        breaker=breaker,
        clock=clock,
        metrics=metrics,
        vendor="zendesk",
        api=api,
        **knobs,
    )


def chat_client(
    session: aiohttp.ClientSession,
    settings: ZendeskChatApiSettings,
    *,
    clock: Clock = time.monotonic,
    metrics: Metrics | None = None,
    **knobs: Any,
) -> VendorClient:
    """The Chat REST API client: OAuth Bearer (the only auth that API takes)."""
    authorization = "Bearer " + settings.token.secret.reveal().decode()
    return _client(
        session, settings, api="chat", base_url=settings.base_url, authorization=authorization,
        clock=clock, metrics=metrics, knobs=knobs,
    )  # fmt: skip


def support_client(
    session: aiohttp.ClientSession,
    settings: ZendeskSupportApiSettings,
    *,
    clock: Clock = time.monotonic,
    metrics: Metrics | None = None,
    **knobs: Any,
) -> VendorClient:
    """The Support API client: ``{email}/token:{token}`` Basic when ``email`` is set, else
    OAuth Bearer. ``base_url`` is ``https://{subdomain}.zendesk.com`` (a trailing ``/api/v2``
    is tolerated)."""
    token = settings.token.secret.reveal().decode()
    if settings.email:
        pair = f"{settings.email}/token:{token}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode("ascii")
    else:
        authorization = "Bearer " + token
    base_url = settings.base_url.rstrip("/").removesuffix("/api/v2")
    return _client(
        session, settings, api="support", base_url=base_url, authorization=authorization,
        clock=clock, metrics=metrics, knobs=knobs,
    )  # fmt: skip
