"""Fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client session for the vendor clients under test."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session
