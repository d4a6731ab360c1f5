"""A stand-in for Front's contacts (``python -m bridge.dev.front --port 8013``).

``GET /contacts/alt:email:{email}`` with the development token as Bearer: the contact, or
Front's 404; without the token its 401.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote

from aiohttp import web

from bridge.dev.fake import FakeVendor, Recorded, bearer_matches, run
from bridge.dev.people import PEOPLE, Person, by_email

API_TOKEN = "DEVELOPMENT-ONLY-front-api-token"  # noqa: S105
PREFIX = "/contacts/alt:email:"


class FakeFront(FakeVendor):
    def __init__(self, *, api_token: str = API_TOKEN, people: tuple[Person, ...] = PEOPLE) -> None:
        super().__init__()
        self.api_token, self.people = api_token, people

    async def default(self, request: web.Request, recorded: Recorded) -> web.StreamResponse:
        if not bearer_matches(recorded.authorization, [self.api_token]):
            error = {"_error": {"status": 401, "title": "Unauthenticated"}}
            return web.json_response(error, status=401)
        found = []
        if recorded.path.startswith(PREFIX):
            found = by_email(self.people, unquote(recorded.path.removeprefix(PREFIX)))
        if not found:
            error = {"_error": {"status": 404, "title": "Not found"}}
            return web.json_response(error, status=404)
        person = found[0]
        return web.json_response(
            {
                "id": f"crd_{person.id}",
                "name": person.name,
                "handles": [{"handle": person.email, "source": "email"}],
                "is_private": False,
            }
        )


def main(argv: Sequence[str] | None = None) -> None:
    run(FakeFront(), "front", 8013, argv, api_token={"value": API_TOKEN})


if __name__ == "__main__":
    main()
