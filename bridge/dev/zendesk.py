"""A stand-in for the two Zendesk APIs the staff lookups call.

    python -m bridge.dev.zendesk --port 8002

serves, on 127.0.0.1 only, a few seeded visitors and users:

    GET /api/v2/chat/visitors/{id}        Chat REST API (today's base URL .../api/v2/chat)
    GET /api/v2/visitors/{id}             the same, under the older zopim-style base URL
    GET /api/v2/users/search?external_id= Support API user search (exact, case-insensitive)
    GET /sc/v2/apps/{app_id}/users/{external_id}    Messaging's users (Sunshine Conversations,
                                                    HTTP Basic key id : secret)

with the development tokens of ``config.example.yaml`` (Chat: Bearer; Support: Bearer, or
``{email}/token:{token}`` Basic with ``agent@example.com``), printed at start-up::

    zendesk_chat_api:
      base_url: http://127.0.0.1:8002/api/v2/chat
      token: {value: "DEVELOPMENT-ONLY-zendesk-chat-api-token"}
    zendesk_support_api:
      base_url: http://127.0.0.1:8002
      token: {value: "DEVELOPMENT-ONLY-zendesk-support-api-token"}

Unknown visitors and paths are Zendesk's 404, a wrong credential its 401. Tests script other
answers with :meth:`~bridge.dev.fake.FakeVendor.then`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from bridge.dev.fake import FakeVendor, Recorded, basic_matches, bearer_matches, parser, serve
from bridge.dev.people import DEV_LOGIN_USER, PEOPLE, Person, by_external_id

__all__ = ["DEV_LOGIN_USER", "FakeZendesk", "main"]

#: well-known development tokens: this stand-in guards nothing
CHAT_TOKEN = "DEVELOPMENT-ONLY-zendesk-chat-api-token"  # noqa: S105
SUPPORT_TOKEN = "DEVELOPMENT-ONLY-zendesk-support-api-token"  # noqa: S105
SUPPORT_EMAIL = "agent@example.com"
SC_APP_ID = "5e4af71a81966c000f7c5e1d"
SC_KEY_ID = "app_5e4af71a81966c000f7c5e1e"
SC_SECRET = "DEVELOPMENT-ONLY-sunshine-conversations-secret"  # noqa: S105

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

VISITOR_PREFIXES = ("/api/v2/chat/visitors/", "/api/v2/visitors/")


class FakeZendesk(FakeVendor):
    """Zendesk's Chat and Support APIs, seeded with ``visitors`` and ``users``."""

    def __init__(
        self,
        *,
        chat_token: str = CHAT_TOKEN,
        support_token: str = SUPPORT_TOKEN,
        support_email: str = SUPPORT_EMAIL,
        visitors: dict[str, dict[str, Any]] | None = None,
        users: list[dict[str, Any]] | None = None,
        sc_app_id: str = SC_APP_ID,
        sc_key_id: str = SC_KEY_ID,
        sc_secret: str = SC_SECRET,
        people: tuple[Person, ...] = PEOPLE,
    ) -> None:
        super().__init__()
        self.chat_token, self.support_token = chat_token, support_token
        self.support_email = support_email
        #: by visitor id (a dict with ``__missing__`` can make every id exist)
        self.visitors = dict(VISITORS) if visitors is None else visitors
        self.users = list(USERS if users is None else users)
        self.sc_app_id, self.sc_key_id, self.sc_secret = sc_app_id, sc_key_id, sc_secret
        #: Messaging's users (Sunshine Conversations)
        self.people = people

    @property
    def chat_url(self) -> str:
        return self.url + "/api/v2/chat"

    @property
    def zopim_url(self) -> str:
        return self.url + "/api/v2"

    async def default(self, request: web.Request, recorded: Recorded) -> web.StreamResponse:
        path = request.path
        if path.startswith("/sc/"):
            return self._messaging_user(path, recorded)
        for prefix in VISITOR_PREFIXES:
            if path.startswith(prefix):
                if not bearer_matches(recorded.authorization, [self.chat_token]):
                    return _unauthorized()
                try:
                    return web.json_response(self.visitors[path.removeprefix(prefix)])
                except KeyError:
                    return web.json_response({"error": "Not Found"}, status=404)
        if path == "/api/v2/users/search":
            header = recorded.authorization
            if not bearer_matches(header, [self.support_token]) and not basic_matches(
                header, f"{self.support_email}/token", self.support_token
            ):
                return _unauthorized()
            wanted = request.query.get("external_id", "").casefold()
            found = [
                user
                for user in self.users
                if wanted and str(user.get("external_id") or "").casefold() == wanted
            ]
            return web.json_response({"users": found, "count": len(found), "next_page": None})
        return web.json_response({"error": "InvalidEndpoint"}, status=404)

    def _messaging_user(self, path: str, recorded: Recorded) -> web.Response:
        if not basic_matches(recorded.authorization, self.sc_key_id, self.sc_secret):
            return web.json_response({"errors": [dict(code="unauthorized")]}, status=401)
        prefix = f"/sc/v2/apps/{self.sc_app_id}/users/"
        found = (
            by_external_id(self.people, path.removeprefix(prefix))
            if path.startswith(prefix)
            else []
        )
        if not found:
            return web.json_response({"errors": [dict(code="user_not_found")]}, status=404)
        person = found[0]
        profile = {"givenName": person.given_name, "surname": person.surname, "email": person.email}
        user = {
            "id": f"7494535bff5cef41a15be74d{person.id[-2:]}",
            "externalId": person.external_id,
            "zendeskId": str(int(person.id) + 361833960),
            "authenticated": True,
            "profile": profile,
            "metadata": {},
            "identities": [{"type": "email", "value": person.email}],
        }
        return web.json_response({"user": user})


def _unauthorized() -> web.Response:
    return web.json_response(
        {"error": "invalid_token", "error_description": "The access token is invalid"},
        status=401,
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parser(
        "python -m bridge.dev.zendesk",
        "A development stand-in for the Zendesk Chat and Support APIs",
        8002,
    ).parse_args(argv)
    base = f"http://127.0.0.1:{args.port}"
    banner = (
        "dev Zendesk stand-in; gateway configuration:\n"
        f"  zendesk_chat_api: {{base_url: {base}/api/v2/chat, token: {{value: {CHAT_TOKEN}}}}}\n"
        f"  zendesk_support_api: {{base_url: {base}, email: {SUPPORT_EMAIL}, "
        f"token: {{value: {SUPPORT_TOKEN}}}}}\n"
        f"seeded visitors: {', '.join(VISITORS)}\n"
        f"seeded login user: {DEV_LOGIN_USER}"
    )
    fake = FakeZendesk()
    fake.url = base
    serve(fake.app, args.port, banner)


if __name__ == "__main__":
    main()
