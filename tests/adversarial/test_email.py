"""Family ``email``: validly signed login tokens whose ``email`` is abuse.

The ``email`` claim is copied into Zendesk's and Freshdesk's tokens, where it names the
visitor and links conversations, so a hostile one must never be forwarded: Zendesk Chat (it
needs an email) answers 422 ``00-03`` as if there were none; Zendesk Messaging (email optional)
mints a token without an ``email``. An unpaired surrogate anywhere in the payload is an invalid
token (401 ``00-01``), as in the ``sub`` family.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from tests.conftest import LOGIN_SECRET, MESSAGING_SECRET, SUB, AppClient
from tests.support.jwtcheck import verify_hs256

FAMILY = "email"


@dataclass(frozen=True)
class EmailCase:
    id: str
    email: Any
    status: int = 422
    code: str = "00-03"


CASES = [
    EmailCase("email-empty", ""),
    EmailCase("email-whitespace", "   "),
    EmailCase("email-null", None),
    EmailCase("email-crlf-header-injection", "player@example.com\r\nBcc: victim@example.com"),
    EmailCase("email-nul", "player@example.com\x00"),
    EmailCase("email-ansi-escape", "player\x1b[31m@example.com"),
    EmailCase("email-tab", "player@example.com\tx"),
    EmailCase("email-bidi-override", "\u202emoc.elpmaxe@reyalp"),
    EmailCase("email-line-separator", "player@example.com\u2028"),
    EmailCase("email-bom", "\ufeffplayer@example.com"),
    EmailCase("email-lone-surrogate", "\udc00@example.com", 401, "00-01"),
    EmailCase("email-255-chars", "a" * 243 + "@example.com"),
    EmailCase("email-no-at", "player.example.com"),
    EmailCase("email-two-ats", "player@@example.com"),
    EmailCase("email-at-only", "@"),
    EmailCase("email-inner-space", "player @example.com"),
    EmailCase("email-list", ["player@example.com"]),
    EmailCase("email-int", 12345),
    EmailCase("email-object", {"$ne": None}),
    EmailCase("email-bool", True),
]
IDS = [case.id for case in CASES]


def token_with_email(email: Any) -> str:
    """A validly signed login token whose ``email`` is exactly ``email`` (``None``: JSON null)."""
    now = int(time.time())
    payload = {"sub": SUB, "email": email, "iat": now, "exp": now + 3600}
    return jwt.encode(payload, LOGIN_SECRET, algorithm="HS256")


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_hostile_email_is_never_forwarded(client: AppClient, case: EmailCase) -> None:
    headers = {"Cookie": f"token={token_with_email(case.email)}"}
    chat = await client.get("/generate/token", headers=headers)
    assert chat.status == case.status
    assert await chat.json() == {
        "code": case.code,
        "description": {"00-03": '"email" claim is missed', "00-01": "Token is invalid"}[case.code],
    }

    messaging = await client.get("/v1/targets/messaging/token", headers=headers)
    if case.status == 401:
        assert messaging.status == 401
        return
    assert messaging.status == 200
    _, claims = verify_hs256((await messaging.json())["token"], MESSAGING_SECRET)
    assert "email" not in claims
    assert claims["external_id"] == SUB
    if isinstance(case.email, str) and case.email.strip():
        assert case.email not in str(claims)
