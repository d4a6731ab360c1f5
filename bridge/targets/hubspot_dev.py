"""A development stand-in for HubSpot's visitor identification API.

    python -m bridge.targets.hubspot_dev --port 8004

serves, on 127.0.0.1 only, ``POST /visitor-identification/v3/tokens/create``: with the
development token below as Bearer and a JSON body with an ``email``, it answers
``{"token": ...}`` (a fresh opaque value each call), like HubSpot; without it, HubSpot's 401.
The configuration it prints at start-up::

    targets:
      hubspot:
        type: hubspot
        api_base_url: http://127.0.0.1:8004
        access_token: {value: "DEVELOPMENT-ONLY-hubspot-private-app-token"}

Not for production: it exists so that the HubSpot target can be tried end to end without a
HubSpot account.
"""

from __future__ import annotations

import argparse
import hmac
import json
import secrets
from collections.abc import Sequence

from aiohttp import web

#: a well-known development token: this stand-in guards nothing
ACCESS_TOKEN = "DEVELOPMENT-ONLY-hubspot-private-app-token"  # noqa: S105
CREATE_PATH = "/visitor-identification/v3/tokens/create"


def _error(status: int, category: str, message: str) -> web.Response:
    body = {"status": "error", "message": message, "category": category}
    return web.json_response(body, status=status)


def create_dev_app(*, access_token: str = ACCESS_TOKEN) -> web.Application:
    """The stand-in application (used by ``main`` and by tests)."""
    expected = f"Bearer {access_token}".encode()

    async def create(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return _error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _error(400, "VALIDATION_ERROR", "Invalid input JSON.")
        email = body.get("email") if isinstance(body, dict) else None
        if not isinstance(email, str) or "@" not in email:
            return _error(400, "VALIDATION_ERROR", "email is required.")
        return web.json_response({"token": "dev-hs-" + secrets.token_urlsafe(32)})

    app = web.Application()
    app.router.add_post(CREATE_PATH, create)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bridge.targets.hubspot_dev",
        description="A development stand-in for HubSpot's visitor identification API.",
    )
    parser.add_argument("--port", type=int, default=8004)
    args = parser.parse_args(argv)
    print(
        "dev HubSpot stand-in; gateway configuration:\n"
        f"  targets: {{hubspot: {{type: hubspot, api_base_url: http://127.0.0.1:{args.port}, "
        f"access_token: {{value: {ACCESS_TOKEN}}}}}}}",
        flush=True,
    )
    web.run_app(create_dev_app(), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
