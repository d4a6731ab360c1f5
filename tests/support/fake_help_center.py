"""The ``fake_help_center`` fixture: :class:`bridge.dev.help_center.FakeHelpCenter` on
127.0.0.1 with the tests' own shared secret (register this module as a pytest plugin).
"""

from __future__ import annotations

import pytest
from pytest_aiohttp import AiohttpServer

from bridge.dev.help_center import FakeHelpCenter

__all__ = ["SSO_SECRET", "FakeHelpCenter"]

SSO_SECRET = "test-zendesk-sso-shared-secret-0123456789abcdef"


@pytest.fixture
async def fake_help_center(aiohttp_server: AiohttpServer) -> FakeHelpCenter:
    fake = FakeHelpCenter(secret=SSO_SECRET)
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    fake.url = f"http://127.0.0.1:{server.port}"
    return fake
