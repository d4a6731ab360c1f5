"""A stand-in for Crisp's people profiles (``python -m bridge.dev.crisp --port 8014``).

``GET /v1/website/{website_id}/people/profile/{email}`` with the development plugin token as
HTTP Basic ``identifier:key`` and ``X-Crisp-Tier: plugin``: ``{"error": false, "data": {...}}``,
or Crisp's 404; a wrong token (or tier) its 401.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from bridge.dev.fake import FakeVendor, Recorded, basic_matches, run
from bridge.dev.people import PEOPLE, Person, by_email

WEBSITE_ID = "8c842203-7ed8-4e29-a608-7cf78a7d2fcc"
IDENTIFIER = "6f2b5b5e-development-only-identifier"
KEY = "DEVELOPMENT-ONLY-crisp-plugin-key"


class FakeCrisp(FakeVendor):
    def __init__(
        self,
        *,
        identifier: str = IDENTIFIER,
        key: str = KEY,
        website_id: str = WEBSITE_ID,
        people: tuple[Person, ...] = PEOPLE,
    ) -> None:
        super().__init__()
        self.identifier, self.key, self.website_id = identifier, key, website_id
        self.people = people

    async def default(self, request: web.Request, recorded: Recorded) -> web.StreamResponse:
        tier = request.headers.get("X-Crisp-Tier")
        if tier != "plugin" or not basic_matches(recorded.authorization, self.identifier, self.key):
            return _answer(401, "invalid_session")
        prefix = f"/v1/website/{self.website_id}/people/profile/"
        if not recorded.path.startswith(prefix):
            return _answer(404, "not_found")
        found = by_email(self.people, unquote(recorded.path.removeprefix(prefix)))
        if not found:
            return _answer(404, "people_not_found")
        person = found[0]
        data: dict[str, Any] = {
            "people_id": f"c3b1e0f5-0000-4000-8000-00000000{person.id}",
            "email": person.email,
            "person": {"nickname": person.name},
            "segments": [],
        }
        return web.json_response({"error": False, "reason": "resolved", "data": data})


def _answer(status: int, reason: str) -> web.Response:
    return web.json_response({"error": True, "reason": reason, "data": {}}, status=status)


def main(argv: Sequence[str] | None = None) -> None:
    run(
        FakeCrisp(), "crisp", 8014, argv,
        website_id=WEBSITE_ID, identifier=IDENTIFIER, key={"value": KEY},
    )  # fmt: skip


if __name__ == "__main__":
    main()
