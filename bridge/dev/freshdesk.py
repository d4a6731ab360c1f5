"""A stand-in for Freshdesk's contacts list (``python -m bridge.dev.freshdesk --port 8012``).

``GET /api/v2/contacts?unique_external_id=`` (or ``?email=``) with the development API key as
HTTP Basic ``key:X``: a JSON array of matching contacts; otherwise Freshdesk's 401.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from bridge.dev.fake import FakeVendor, Recorded, basic_matches, run
from bridge.dev.people import PEOPLE, Person, by_email, by_external_id

API_KEY = "DEVELOPMENT-ONLY-freshdesk-api-key"


def contact(person: Person) -> dict[str, Any]:
    return {
        "id": int(person.id) + 43000000000,
        "name": person.name,
        "email": person.email,
        "unique_external_id": person.external_id,
        "active": True,
    }


class FakeFreshdesk(FakeVendor):
    def __init__(self, *, api_key: str = API_KEY, people: tuple[Person, ...] = PEOPLE) -> None:
        super().__init__()
        self.api_key, self.people = api_key, people

    async def default(self, request: web.Request, recorded: Recorded) -> web.StreamResponse:
        if not basic_matches(recorded.authorization, self.api_key, "X"):
            return web.json_response(dict(code="invalid_credentials"), status=401)
        if recorded.path != "/api/v2/contacts":
            return web.json_response(dict(code="not_found"), status=404)
        if "unique_external_id" in recorded.query:
            found = by_external_id(self.people, recorded.query["unique_external_id"])
        elif "email" in recorded.query:
            found = by_email(self.people, recorded.query["email"])
        else:
            found = list(self.people)
        return web.json_response([contact(p) for p in found])


def main(argv: Sequence[str] | None = None) -> None:
    run(FakeFreshdesk(), "freshdesk", 8012, argv, api_key={"value": API_KEY})


if __name__ == "__main__":
    main()
