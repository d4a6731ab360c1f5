"""A stand-in for HubSpot's visitor identification API.

    python -m bridge.dev.hubspot --port 8004

serves, on 127.0.0.1 only, ``POST /visitor-identification/v3/tokens/create``: with the
development token below as Bearer and a JSON body with an ``email``, it answers
``{"token": "hs-token-<n>"}`` (n counts the tokens issued), like HubSpot; without it,
HubSpot's 401. ``GET /crm/v3/objects/contacts/{email}?idProperty=email`` answers the CRM
contact with that email (:mod:`bridge.dev.people`), or HubSpot's 404. The configuration it
prints at start-up::

    targets:
      hubspot:
        type: hubspot
        api_base_url: http://127.0.0.1:8004
        access_token: {value: "DEVELOPMENT-ONLY-hubspot-private-app-token"}

Tests script other answers with :meth:`~bridge.dev.fake.FakeVendor.then`.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote

from aiohttp import web

from bridge.dev.fake import FakeVendor, Recorded, bearer_matches, parser, serve
from bridge.dev.people import PEOPLE, Person, by_email

#: a well-known development token: this stand-in guards nothing
ACCESS_TOKEN = "DEVELOPMENT-ONLY-hubspot-private-app-token"  # noqa: S105
CREATE_PATH = "/visitor-identification/v3/tokens/create"
CONTACTS_PATH = "/crm/v3/objects/contacts/"


def _error(status: int, category: str, message: str) -> web.Response:
    body = {"status": "error", "message": message, "category": category}
    return web.json_response(body, status=status)


class FakeHubSpot(FakeVendor):
    """HubSpot's token endpoint for a private app whose token is ``access_token``."""

    def __init__(
        self, *, access_token: str = ACCESS_TOKEN, people: tuple[Person, ...] = PEOPLE
    ) -> None:
        super().__init__()
        self.access_token = access_token
        self.people = people
        #: tokens issued so far
        self.issued = 0

    async def default(self, request: web.Request, recorded: Recorded) -> web.StreamResponse:
        if request.method == "GET" and recorded.path.startswith(CONTACTS_PATH):
            return self._contact(recorded)
        if request.method != "POST" or recorded.path != CREATE_PATH:
            return _error(404, "NOT_FOUND", "No such endpoint.")
        if not bearer_matches(recorded.authorization, [self.access_token]):
            return _error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
        body = recorded.body
        email = body.get("email") if isinstance(body, dict) else None
        if not isinstance(email, str) or "@" not in email:
            return _error(400, "VALIDATION_ERROR", "email is required.")
        self.issued += 1
        return web.json_response({"token": f"hs-token-{self.issued}"})

    def _contact(self, recorded: Recorded) -> web.Response:
        if not bearer_matches(recorded.authorization, [self.access_token]):
            return _error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
        found = []
        if recorded.query.get("idProperty") == "email":
            found = by_email(self.people, unquote(recorded.path.removeprefix(CONTACTS_PATH)))
        if not found:
            return _error(404, "OBJECT_NOT_FOUND", "Object not found.")
        person = found[0]
        properties = {
            "email": person.email,
            "firstname": person.given_name,
            "lastname": person.surname,
        }
        body = {"id": person.id, "properties": properties, "archived": False}
        return web.json_response(body)


def main(argv: Sequence[str] | None = None) -> None:
    args = parser(
        "python -m bridge.dev.hubspot",
        "A development stand-in for HubSpot's visitor identification API",
        8004,
    ).parse_args(argv)
    fake = FakeHubSpot()
    fake.url = f"http://127.0.0.1:{args.port}"
    banner = (
        "dev HubSpot stand-in; gateway configuration:\n"
        f"  targets: {{hubspot: {{type: hubspot, api_base_url: {fake.url}, "
        f"access_token: {{value: {ACCESS_TOKEN}}}}}}}"
    )
    serve(fake.app, args.port, banner)


if __name__ == "__main__":
    main()
