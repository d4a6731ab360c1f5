"""A stand-in for Help Scout's Mailbox API 2.0 (``python -m bridge.dev.helpscout --port 8015``).

``POST /v2/oauth2/token`` (form: ``grant_type=client_credentials``, the development client id
and secret) issues ``{"access_token", "expires_in"}``; ``GET /v2/customers?query=(email:"x")``
with a current token as Bearer lists the customers whose email *contains* x, as Help Scout
does. Unknown tokens (or revoked ones: :meth:`FakeHelpScout.revoke`) are its 401.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from bridge.dev.fake import FakeVendor, Recorded, bearer_matches, run
from bridge.dev.people import PEOPLE, Person

CLIENT_ID = "DEVELOPMENT-ONLY-helpscout-client-id"
CLIENT_SECRET = "DEVELOPMENT-ONLY-helpscout-client-secret"  # noqa: S105
QUERY = re.compile(r'^\(email:"([^"]*)"\)$')


def customer(person: Person) -> dict[str, Any]:
    return {
        "id": int(person.id) + 500000,
        "firstName": person.given_name,
        "lastName": person.surname,
        "_embedded": {"emails": [{"id": 1, "value": person.email, "type": "work"}]},
    }


class FakeHelpScout(FakeVendor):
    def __init__(
        self,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        people: tuple[Person, ...] = PEOPLE,
        expires_in: int = 172800,
    ) -> None:
        super().__init__()
        self.client_id, self.client_secret = client_id, client_secret
        self.people = people
        self.expires_in = expires_in
        #: the tokens issued and not revoked
        self.tokens: list[str] = []
        self.issued = 0

    def revoke(self) -> None:
        """Every token issued so far stops working (as when one expires early)."""
        self.tokens.clear()

    async def default(self, request: web.Request, recorded: Recorded) -> web.StreamResponse:
        if recorded.path == "/v2/oauth2/token" and request.method == "POST":
            raw = recorded.body if isinstance(recorded.body, bytes) else b""
            form = {k: v[0] for k, v in parse_qs(raw.decode(errors="replace")).items()}
            good = (
                form.get("grant_type") == "client_credentials"
                and form.get("client_id") == self.client_id
                and form.get("client_secret") == self.client_secret
            )
            if not good:
                return web.json_response({"error": "invalid_client"}, status=401)
            self.issued += 1
            token = f"hs-dev-token-{self.issued}"
            self.tokens.append(token)
            body = {"token_type": "bearer", "access_token": token, "expires_in": self.expires_in}
            return web.json_response(body)
        if not bearer_matches(recorded.authorization, self.tokens):
            return web.json_response({"error": "invalid_token"}, status=401)
        match = QUERY.match(recorded.query.get("query", ""))
        if recorded.path != "/v2/customers" or match is None:
            return web.json_response({"error": "not_found"}, status=404)
        text = match.group(1).casefold()
        found = [customer(p) for p in self.people if p.email and text in p.email.casefold()]
        page = {"size": 50, "totalElements": len(found), "totalPages": 1, "number": 1}
        return web.json_response({"_embedded": {"customers": found}, "page": page})


def main(argv: Sequence[str] | None = None) -> None:
    run(
        FakeHelpScout(), "helpscout", 8015, argv,
        client_id=CLIENT_ID, client_secret={"value": CLIENT_SECRET},
    )  # fmt: skip


if __name__ == "__main__":
    main()
