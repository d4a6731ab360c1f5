"""The ``fake_hubspot`` fixture: :class:`bridge.dev.hubspot.FakeHubSpot` on a loopback port,
with the tests' own private app token (register this module as a pytest plugin).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pytest_aiohttp import AiohttpServer

from bridge.dev.hubspot import CREATE_PATH, FakeHubSpot

__all__ = ["ACCESS_TOKEN", "CREATE_PATH", "FakeHubSpot"]

ACCESS_TOKEN = "pat-na1-fake-hubspot-private-app-token-0123"


@pytest.fixture
async def fake_hubspot(aiohttp_server: AiohttpServer) -> AsyncIterator[FakeHubSpot]:
    fake = FakeHubSpot(access_token=ACCESS_TOKEN)
    server = await aiohttp_server(fake.app)
    fake.url = str(server.make_url("/")).rstrip("/")
    yield fake
    fake.release()
    await asyncio.sleep(0)
