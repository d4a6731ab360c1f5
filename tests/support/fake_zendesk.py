"""The ``fake_zendesk`` fixture: :class:`bridge.dev.zendesk.FakeZendesk` on a loopback port,
with the tests' own credentials and seeded visitors and users (register this module as a
pytest plugin). Scripted answers are :class:`~bridge.dev.fake.Reply` objects.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from bridge.dev.fake import Reply
from bridge.dev.zendesk import FakeZendesk

__all__ = ["CHAT_TOKEN", "LOGIN_USER", "SUPPORT_EMAIL", "SUPPORT_TOKEN", "FakeZendesk", "Reply"]

CHAT_TOKEN = "fake-chat-oauth-token-0123456789"
SUPPORT_EMAIL = "agent@example.com"
SUPPORT_TOKEN = "fake-support-api-token-0123456789"
LOGIN_USER = "82cd5e0c-c3ff-11e9-b199-c1e5fc81c37f"


def seeded_visitors() -> dict[str, dict[str, Any]]:
    return {
        "9855790.xjj3ukxyIhn6j3": {
            "id": "9855790.xjj3ukxyIhn6j3",
            "name": "Player One",
            "email": "player@example.com",
            "phone": "",
            "notes": "VIP",
            "banned": False,
            "created": 1700000000,
            "external_id": LOGIN_USER,
        },
        "9855790.anonymous1": {
            "id": "9855790.anonymous1",
            "name": "Visitor 42",
            "email": None,
            "phone": None,
            "notes": "",
            "banned": False,
            "created": "2024-05-01T12:00:00Z",
            "external_id": "",
        },
    }


def seeded_users() -> list[dict[str, Any]]:
    return [
        {
            "id": 361834961,
            "name": "Player One",
            "email": "player@example.com",
            "external_id": LOGIN_USER,
            "role": "end-user",
            "url": "https://example.zendesk.com/api/v2/users/361834961.json",
        },
        {
            "id": 361834962,
            "name": "Someone Else",
            "email": "else@example.com",
            "external_id": "someone-else",
            "role": "end-user",
        },
    ]


@pytest.fixture
async def fake_zendesk(aiohttp_server: AiohttpServer) -> AsyncIterator[FakeZendesk]:
    fake = FakeZendesk(
        chat_token=CHAT_TOKEN,
        support_token=SUPPORT_TOKEN,
        support_email=SUPPORT_EMAIL,
        visitors=seeded_visitors(),
        users=seeded_users(),
    )
    server = await aiohttp_server(fake.app)
    fake.url = str(server.make_url("/")).rstrip("/")
    yield fake
    fake.release()
    await asyncio.sleep(0)
