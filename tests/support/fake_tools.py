"""The ``fake_tools`` fixture: every support-tool stand-in of :mod:`bridge.dev` on its own
loopback port (Zendesk with Messaging, Chat and Support; Intercom; Freshdesk; HubSpot; Front;
Help Scout; Crisp), knowing :mod:`bridge.dev.people`, with the ``lookups`` section that points
a gateway at all nine lookups (register this module as a pytest plugin).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from bridge.dev.crisp import FakeCrisp
from bridge.dev.fake import FakeVendor, Reply
from bridge.dev.freshdesk import FakeFreshdesk
from bridge.dev.front import FakeFront
from bridge.dev.helpscout import FakeHelpScout
from bridge.dev.hubspot import FakeHubSpot
from bridge.dev.intercom import FakeIntercom
from bridge.dev.people import DEV_EMAIL, DEV_LOGIN_USER
from bridge.dev.tools import lookups_section, stand_ins
from bridge.dev.zendesk import FakeZendesk

__all__ = ["DEV_EMAIL", "DEV_LOGIN_USER", "Reply", "Tools"]

#: the lookup names of :func:`bridge.dev.tools.lookups_section`, by keying
BY_EXTERNAL_ID = ("messaging", "support", "intercom", "freshdesk")
BY_EMAIL = ("hubspot", "front", "helpscout", "crisp")
#: Zendesk Chat finds visitors by visitor id only: never asked for a login user
NOT_SEARCHABLE = ("chat",)
#: which stand-in answers each lookup
VENDOR_OF = {
    "messaging": "zendesk", "chat": "zendesk", "support": "zendesk", "intercom": "intercom",
    "freshdesk": "freshdesk", "hubspot": "hubspot", "front": "front",
    "helpscout": "helpscout", "crisp": "crisp",
}  # fmt: skip


@dataclass
class Tools:
    zendesk: FakeZendesk
    intercom: FakeIntercom
    freshdesk: FakeFreshdesk
    hubspot: FakeHubSpot
    front: FakeFront
    helpscout: FakeHelpScout
    crisp: FakeCrisp

    def __iter__(self) -> Iterator[FakeVendor]:
        yield from (
            self.zendesk, self.intercom, self.freshdesk, self.hubspot, self.front,
            self.helpscout, self.crisp,
        )  # fmt: skip

    def of(self, lookup: str) -> FakeVendor:
        """The stand-in that answers the lookup named ``lookup``."""
        fake: FakeVendor = getattr(self, VENDOR_OF[lookup])
        return fake

    def lookups(self, **changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The ``lookups`` section for all nine, with some entries' keys changed."""
        section = lookups_section(list(self))
        for name, change in changes.items():
            section[name] = {**section[name], **change}
        return section

    def calls(self) -> dict[str, int]:
        return {type(fake).__name__: fake.calls for fake in self}

    def set_delay(self, seconds: float) -> None:
        for fake in self:
            fake.delay = seconds


@pytest.fixture
async def fake_tools(aiohttp_server: AiohttpServer) -> AsyncIterator[Tools]:
    fakes = stand_ins()
    for fake in fakes:
        server = await aiohttp_server(fake.app)
        fake.url = str(server.make_url("/")).rstrip("/")
    tools = Tools(*fakes)  # type: ignore[arg-type]
    yield tools
    for fake in fakes:
        fake.release()
    await asyncio.sleep(0)
