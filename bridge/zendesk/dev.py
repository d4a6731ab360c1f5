"""A development stand-in for the two Zendesk APIs the staff lookups call.

    python -m bridge.zendesk.dev --port 8002

serves, on 127.0.0.1 only, a few seeded visitors and users:

    GET /api/v2/chat/visitors/{id}        Chat REST API (today's base URL .../api/v2/chat)
    GET /api/v2/visitors/{id}             the same, under the older zopim-style base URL
    GET /api/v2/users/search?external_id= Support API user search (exact, case-insensitive)

with the development tokens of ``config.example.yaml`` (Chat: Bearer; Support: Bearer, or
``{email}/token:{token}`` Basic with ``agent@example.com``), printed at start-up::

    zendesk_chat_api:
      base_url: http://127.0.0.1:8002/api/v2/chat
      token: {value: "DEVELOPMENT-ONLY-zendesk-chat-api-token"}
    zendesk_support_api:
      base_url: http://127.0.0.1:8002
      token: {value: "DEVELOPMENT-ONLY-zendesk-support-api-token"}

Not for production: it exists so that a lookup can be tried end to end without Zendesk.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
from collections.abc import Sequence
from typing import Any

from aiohttp import web

#: well-known development tokens: this stand-in guards nothing
CHAT_TOKEN = "DEVELOPMENT-ONLY-zendesk-chat-api-token"  # noqa: S105
SUPPORT_TOKEN = "DEVELOPMENT-ONLY-zendesk-support-api-token"  # noqa: S105
SUPPORT_EMAIL = "agent@example.com"
#: the login user of ``bridge mint-login-token --sub ...`` examples (an Xsolla-style UUID)
DEV_LOGIN_USER = "82cd5e0c-c3ff-11e9-b199-c1e5fc81c37f"

VISITORS: dict[str, dict[str, Any]] = {
    "9855790.xjj3ukxyIhn6j3": {
        "id": "9855790.xjj3ukxyIhn6j3",
        "name": "Player One",
        "email": "player@example.com",
        "phone": "+15550100",
        "notes": "Logged in through the shop",
        "banned": False,
        "created": 1717171717,
        "external_id": DEV_LOGIN_USER,
    },
    "9855790.anonymous42": {
        "id": "9855790.anonymous42",
        "name": "Visitor 42",
        "email": None,
        "phone": None,
        "notes": "",
        "banned": False,
        "created": "2024-06-01T09:30:00Z",
        "external_id": "",
    },
    "9855790.banned7": {
        "id": "9855790.banned7",
        "name": "Spammer",
        "email": "spam@example.net",
        "phone": None,
        "notes": "banned for spam",
        "banned": True,
        "created": 1700000000,
        "external_id": None,
    },
}

USERS: list[dict[str, Any]] = [
    {
        "id": 361834961,
        "name": "Player One",
        "email": "player@example.com",
        "external_id": DEV_LOGIN_USER,
        "role": "end-user",
    },
    {
        "id": 361834970,
        "name": "Support Agent",
        "email": SUPPORT_EMAIL,
        "external_id": None,
        "role": "agent",
    },
]


def _accepts(header: str | None, *, tokens: Sequence[str], email: str | None = None) -> bool:
    if header is None:
        return False
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "bearer":
        return any(hmac.compare_digest(credential.encode(), t.encode()) for t in tokens)
    if scheme.lower() == "basic" and email is not None:
        try:
            pair = base64.b64decode(credential, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        expected = [f"{email}/token:{t}" for t in tokens]
        return any(hmac.compare_digest(pair.encode(), e.encode()) for e in expected)
    return False


def _unauthorized() -> web.Response:
    return web.json_response(
        {"error": "invalid_token", "error_description": "The access token is invalid"},
        status=401,
    )


def create_dev_app(
    *,
    chat_token: str = CHAT_TOKEN,
    support_token: str = SUPPORT_TOKEN,
    support_email: str = SUPPORT_EMAIL,
) -> web.Application:
    """The stand-in application (used by ``main`` and by tests)."""

    async def visitor(request: web.Request) -> web.Response:
        if not _accepts(request.headers.get("Authorization"), tokens=[chat_token]):
            return _unauthorized()
        found = VISITORS.get(request.match_info["visitor_id"])
        if found is None:
            return web.json_response({"error": "Not Found"}, status=404)
        return web.json_response(found)

    async def search_users(request: web.Request) -> web.Response:
        header = request.headers.get("Authorization")
        if not _accepts(header, tokens=[support_token], email=support_email):
            return _unauthorized()
        wanted = request.query.get("external_id", "").casefold()
        users = [u for u in USERS if wanted and (u["external_id"] or "").casefold() == wanted]
        return web.json_response({"users": users, "count": len(users), "next_page": None})

    app = web.Application()
    app.router.add_get("/api/v2/chat/visitors/{visitor_id}", visitor)
    app.router.add_get("/api/v2/visitors/{visitor_id}", visitor)
    app.router.add_get("/api/v2/users/search", search_users)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bridge.zendesk.dev",
        description="A development stand-in for the Zendesk Chat and Support APIs (127.0.0.1).",
    )
    parser.add_argument("--port", type=int, default=8002)
    args = parser.parse_args(argv)
    base = f"http://127.0.0.1:{args.port}"
    print(
        "dev Zendesk stand-in; gateway configuration:\n"
        f"  zendesk_chat_api: {{base_url: {base}/api/v2/chat, token: {{value: {CHAT_TOKEN}}}}}\n"
        f"  zendesk_support_api: {{base_url: {base}, email: {SUPPORT_EMAIL}, "
        f"token: {{value: {SUPPORT_TOKEN}}}}}\n"
        f"seeded visitors: {', '.join(VISITORS)}\n"
        f"seeded login user: {DEV_LOGIN_USER}",
        flush=True,
    )
    web.run_app(create_dev_app(), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
