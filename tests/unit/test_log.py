"""Logs: one JSON line per request, the request id, and what never appears in a line or body.

The fixture ``log_lines`` configures logging exactly as ``bridge serve`` does (JSON on a
stream), so every record, the gateway's own and the libraries', is captured as it would be
printed.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
import structlog

from bridge.access import flush_all
from bridge.log import REDACTED, configure_logging, redact
from bridge.settings.root import Settings
from bridge.state import DRAINING
from tests.api.test_visitors import AUTH, LINKED, STAFF_KEY
from tests.conftest import (
    CHAT_SECRET,
    FRESHDESK_SECRET,
    LOGIN_SECRET,
    MESSAGING_SECRET,
    OLD_LOGIN_SECRET,
    SUB,
    AppClient,
    ClientFactory,
    Lines,
    login_token,
    settings,
    zipchat_pem,
)
from tests.support.fake_zendesk import CHAT_TOKEN, FakeZendesk

HEX_ID = re.compile(r"[0-9a-f]{32}")


def access_lines(lines: Lines) -> list[dict[str, Any]]:
    return [line for line in lines() if line.get("logger") == "bridge.access"]


# --- the access line ---------------------------------------------------------------------------


async def test_a_token_request_writes_one_complete_json_line(
    client: AppClient, log_lines: Lines
) -> None:
    response = await client.get(
        "/v1/targets/messaging/token",
        headers={"Cookie": f"token={login_token()}", "X-Request-ID": "req-42.a:b"},
    )
    assert response.status == 200
    assert response.headers["X-Request-ID"] == "req-42.a:b"
    [line] = access_lines(log_lines)
    assert line["event"] == "request"
    assert line["level"] == "info"
    assert line["request_id"] == "req-42.a:b"
    assert line["method"] == "GET"
    assert line["route"] == "/v1/targets/{name}/token"
    assert line["status"] == 200
    assert line["target"] == "messaging"
    assert line["subject"] == SUB
    assert line["reason"] is None
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] > 0
    assert isinstance(line["pid"], int)
    assert line["timestamp"].endswith("Z")


async def test_a_refusal_logs_its_reason_and_no_subject(
    client: AppClient, log_lines: Lines
) -> None:
    response = await client.post(
        "/generate/token", headers={"Cookie": "token=" + login_token(ttl=-60)}
    )
    assert response.status == 401
    [line] = access_lines(log_lines)
    assert (line["status"], line["reason"], line["subject"]) == (401, "expired", None)
    assert line["target"] == "chat"


@pytest.mark.parametrize(
    "given",
    [
        "a" * 65,
        "has space",
        "../../etc/passwd",
        "<script>",
        "-leading-dash",
        "eyJhbGciOiJIUzI1NiJ9",
    ],
)
async def test_an_unsafe_request_id_is_replaced(
    client: AppClient, log_lines: Lines, given: str
) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": given})
    echoed = response.headers["X-Request-ID"]
    assert echoed != given
    assert HEX_ID.fullmatch(echoed)


async def test_without_a_request_id_each_request_gets_its_own(
    client: AppClient, log_lines: Lines
) -> None:
    ids = set()
    for _ in range(3):
        response = await client.get("/generate/token")
        ids.add(response.headers["X-Request-ID"])
    assert len(ids) == 3
    assert all(HEX_ID.fullmatch(i) for i in ids)
    assert {line["request_id"] for line in access_lines(log_lines)} == ids


async def test_error_answers_echo_the_request_id_too(client: AppClient) -> None:
    response = await client.get("/nowhere", headers={"X-Request-ID": "abc"})
    assert response.status == 404
    assert response.headers["X-Request-ID"] == "abc"


async def test_successful_probes_are_counted_but_not_logged(
    make_client: ClientFactory, log_lines: Lines
) -> None:
    client = await make_client(settings())
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    client.app[DRAINING].set()
    assert (await client.get("/readyz")).status == 503  # a failing probe is worth a line
    routes = [(line["route"], line["status"]) for line in access_lines(log_lines)]
    assert routes == [("/readyz", 503)]


async def test_access_lines_can_be_turned_off(make_client: ClientFactory, log_lines: Lines) -> None:
    client = await make_client(settings(log={"access": False}))
    assert (await client.get("/generate/token")).status == 401
    assert access_lines(log_lines) == []


def test_console_format_is_for_people(log_stream: io.StringIO) -> None:
    stream = io.StringIO()
    configure_logging("console", stream=stream)
    structlog.get_logger().info("request", route="/healthz", status=200, token="eyJx.y.z")
    text = stream.getvalue()
    assert "request" in text
    assert "route=/healthz" in text
    assert "eyJx" not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


# --- redaction -----------------------------------------------------------------------------


def test_redact_blanks_sensitive_keys_and_masks_jwts() -> None:
    event = {
        "event": "got eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig from upstream",
        "Authorization": "Bearer abc",
        "cookie": "token=abc",
        "status": 200,
    }
    out = redact(None, "info", event)
    assert out == {
        "event": "got [redacted-jwt] from upstream",
        "Authorization": REDACTED,
        "cookie": REDACTED,
        "status": 200,
    }


def staff_settings(fake: FakeZendesk) -> Settings:
    return settings(
        staff={"api_keys": [{"value": STAFF_KEY}]},
        zendesk_chat_api={"base_url": fake.chat_url, "token": {"value": CHAT_TOKEN}},
    )


async def test_no_token_cookie_secret_or_staff_key_reaches_a_log_line_or_error_body(
    make_client: ClientFactory, fake_zendesk: FakeZendesk, log_stream: io.StringIO
) -> None:
    """Every kind of request, with every secret the gateway knows of in play."""
    client = await make_client(staff_settings(fake_zendesk))
    valid = login_token()
    hostile = [
        valid,
        login_token(ttl=-3600),
        login_token("attacker-secret-0123456789abcdef0123456"),
        login_token(sub=None),
        login_token(email=None),
        valid + "x",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "Bearer " + valid,
    ]
    wrong_staff_key = "wrong-staff-key-0123456789abcdef"
    other_cookie = "session-cookie-value-0123456789"
    minted: list[str] = []
    bodies: list[str] = []
    answered_by_app = 0

    async def call(method: str, path: str, *, app_answers: bool = True, **kwargs: Any) -> None:
        nonlocal answered_by_app
        answered_by_app += app_answers
        async with client.request(method, path, **kwargs) as response:
            text = await response.text()
            if response.status == 200 and "token" in path:
                minted.append(json.loads(text)["token"] if text.startswith("{") else text)
            elif response.status >= 400:
                bodies.append(text)
                if app_answers:
                    assert set(json.loads(text)) == {"code", "description"}

    for token in hostile:
        cookies = f"session={other_cookie}; token={token}"
        for path in ("/generate/token", *(f"/v1/targets/{t}/token" for t in
                     ("chat", "messaging", "freshdesk", "zipchat"))):  # fmt: skip
            await call("GET", path, headers={"Cookie": cookies, "X-Request-ID": token[:60]})
        await call("POST", "/generate/token", headers={"Cookie": cookies}, data=token)
        await call("GET", f"/generate/token?token={token}")
        await call("GET", f"/v1/targets/{token[:100]}/token", headers={"Cookie": cookies})
        await call("GET", f"/v1/visitors/{token[:100]}", headers=AUTH)
    await call("GET", "/v1/targets/zipchat/token", headers={"Cookie": f"token={valid}",
               "Accept": "application/jwt"})  # fmt: skip
    await call("GET", f"/v1/visitors/{LINKED}", headers=AUTH)
    await call(
        "GET", f"/v1/visitors/{LINKED}", headers={"Authorization": f"Bearer {wrong_staff_key}"}
    )
    await call("GET", f"/v1/visitors/{LINKED}", headers={"Authorization": wrong_staff_key})
    # past the header size limit aiohttp answers 400 itself, and logs a (redacted) error
    await call("GET", "/generate/token", headers={"Cookie": "token=" + "A" * 30_000},
               app_answers=False)  # fmt: skip
    await call("GET", "/metrics")

    flush_all()  # access lines are written in batches (bridge.access)
    logged = log_stream.getvalue()
    # the valid token: five GETs, a POST, the application/jwt one; the email-less one: Messaging
    assert len(minted) == 8
    assert logged.count('"logger":"bridge.access"') == answered_by_app
    assert "aiohttp.access" not in logged  # raw request lines: the gateway writes its own
    forbidden = [
        *hostile, *minted, valid.split(".")[2], LOGIN_SECRET, OLD_LOGIN_SECRET, CHAT_SECRET,
        MESSAGING_SECRET, FRESHDESK_SECRET, zipchat_pem().splitlines()[5], STAFF_KEY,
        wrong_staff_key, CHAT_TOKEN, other_cookie, "A" * 100,
    ]  # fmt: skip
    for secret in forbidden:
        assert secret not in logged
        assert all(secret not in body for body in bodies)
    assert "eyJ" not in logged
    assert all("eyJ" not in body for body in bodies)
