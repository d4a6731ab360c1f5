"""Every support tool the staff lookups ask, stood in for at once, for development.

    python -m bridge.dev.tools --port 8010

serves, on 127.0.0.1 only, one stand-in per port from ``--port`` on (Zendesk, with Messaging,
Chat and Support; Intercom; Freshdesk; HubSpot; Front; Help Scout; Crisp), each knowing the
people of :mod:`bridge.dev.people`, and prints the ``lookups:`` section that points the gateway
at them (the one ``config.example.yaml`` carries, commented out, for the default port).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from bridge.dev import crisp, freshdesk, front, helpscout, hubspot, intercom, zendesk
from bridge.dev.fake import FakeVendor
from bridge.dev.people import DEV_LOGIN_USER


def stand_ins() -> list[FakeVendor]:
    return [
        zendesk.FakeZendesk(),
        intercom.FakeIntercom(),
        freshdesk.FakeFreshdesk(),
        hubspot.FakeHubSpot(),
        front.FakeFront(),
        helpscout.FakeHelpScout(),
        crisp.FakeCrisp(),
    ]


def lookups_section(fakes: Sequence[FakeVendor]) -> dict[str, dict[str, Any]]:
    """The ``lookups`` entries for ``fakes`` (as :func:`stand_ins` orders them, served)."""
    zd, ic, fd, hs, fr, hc, cr = fakes
    return {
        "messaging": {
            "type": "sunshine_conversations", "base_url": zd.url + "/sc",
            "app_id": zendesk.SC_APP_ID, "key_id": zendesk.SC_KEY_ID,
            "secret": {"value": zendesk.SC_SECRET},
        },
        "chat": {
            "type": "zendesk_chat", "base_url": zd.url + "/api/v2/chat",
            "token": {"value": zendesk.CHAT_TOKEN},
        },
        "support": {
            "type": "zendesk_support", "base_url": zd.url, "email": zendesk.SUPPORT_EMAIL,
            "token": {"value": zendesk.SUPPORT_TOKEN},
        },
        "intercom": {
            "type": "intercom", "base_url": ic.url,
            "access_token": {"value": intercom.ACCESS_TOKEN},
        },
        "freshdesk": {
            "type": "freshdesk", "base_url": fd.url, "api_key": {"value": freshdesk.API_KEY},
        },
        "hubspot": {
            "type": "hubspot_crm", "base_url": hs.url,
            "access_token": {"value": hubspot.ACCESS_TOKEN},
        },
        "front": {"type": "front", "base_url": fr.url, "api_token": {"value": front.API_TOKEN}},
        "helpscout": {
            "type": "helpscout", "base_url": hc.url, "client_id": helpscout.CLIENT_ID,
            "client_secret": {"value": helpscout.CLIENT_SECRET},
        },
        "crisp": {
            "type": "crisp", "base_url": cr.url, "website_id": crisp.WEBSITE_ID,
            "identifier": crisp.IDENTIFIER, "key": {"value": crisp.KEY},
        },
    }  # fmt: skip


def _placed(port: int) -> list[FakeVendor]:
    """The stand-ins with the URLs they are served at, from ``port`` on."""
    fakes = stand_ins()
    for offset, fake in enumerate(fakes):
        fake.url = f"http://127.0.0.1:{port + offset}"
    return fakes


async def _serve(port: int) -> None:
    fakes = _placed(port)
    runners = []
    for offset, fake in enumerate(fakes):
        runner = web.AppRunner(fake.app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port + offset).start()
        runners.append(runner)
    print("dev support tools; gateway configuration:", flush=True)
    print("lookups: " + json.dumps(lookups_section(fakes), indent=2), flush=True)
    print(f"everywhere: login user {DEV_LOGIN_USER}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        for runner in runners:
            await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> None:
    arguments = argparse.ArgumentParser(
        prog="python -m bridge.dev.tools",
        description="Development stand-ins for every support tool (127.0.0.1).",
    )
    arguments.add_argument("--port", type=int, default=8010, help="the first of seven ports")
    arguments.add_argument(
        "--print-config",
        action="store_true",
        help="print the lookups section (one YAML line) and exit, without serving",
    )
    args = arguments.parse_args(argv)
    if args.print_config:
        print("lookups: " + json.dumps(lookups_section(_placed(args.port))))
        return
    asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main()
