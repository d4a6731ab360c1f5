"""A stand-in for Intercom's contacts search (``python -m bridge.dev.intercom --port 8011``).

``POST /contacts/search`` with the development token as Bearer: the contacts whose field (``=``,
``external_id`` or ``email``) equals the value, as ``{"type": "list", "data": [...]}``;
without the token Intercom's 401.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from bridge.dev.fake import FakeVendor, Recorded, bearer_matches, run
from bridge.dev.people import PEOPLE, Person

ACCESS_TOKEN = "DEVELOPMENT-ONLY-intercom-access-token"  # noqa: S105


def contact(person: Person) -> dict[str, Any]:
    return {
        "type": "contact",
        "id": f"65a{person.id}",
        "external_id": person.external_id,
        "email": person.email,
        "name": person.name,
        "role": "user",
    }


class FakeIntercom(FakeVendor):
    def __init__(
        self, *, access_token: str = ACCESS_TOKEN, people: tuple[Person, ...] = PEOPLE
    ) -> None:
        super().__init__()
        self.access_token, self.people = access_token, people

    async def default(self, request: web.Request, recorded: Recorded) -> web.StreamResponse:
        if not bearer_matches(recorded.authorization, [self.access_token]):
            body = {"type": "error.list", "errors": [dict(code="unauthorized")]}
            return web.json_response(body, status=401)
        if request.method != "POST" or recorded.path != "/contacts/search":
            return web.json_response({"type": "error.list", "errors": []}, status=404)
        query = recorded.body.get("query") if isinstance(recorded.body, dict) else None
        if not isinstance(query, dict) or query.get("operator") != "=":
            return web.json_response({"type": "error.list", "errors": []}, status=400)
        field, value = query.get("field"), query.get("value")
        found = [contact(p) for p in self.people if value and getattr(p, str(field), None) == value]
        return web.json_response({"type": "list", "data": found, "total_count": len(found)})


def main(argv: Sequence[str] | None = None) -> None:
    run(FakeIntercom(), "intercom", 8011, argv, access_token={"value": ACCESS_TOKEN})


if __name__ == "__main__":
    main()
