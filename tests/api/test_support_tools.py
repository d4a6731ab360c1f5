"""``GET /v1/login-users/{login_user_id}[/{name}]``: one login user in every support tool, against
the nine lookups' stand-ins (real HTTP servers) and, for the fleet, a real Redis."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bridge.settings.root import Settings
from tests.conftest import AppClient, ClientFactory, Lines, settings
from tests.support.fake_tools import (
    BY_EMAIL,
    BY_EXTERNAL_ID,
    DEV_EMAIL,
    DEV_LOGIN_USER,
    NOT_SEARCHABLE,
    Reply,
    Tools,
)
from tests.support.redis_server import RedisServer, unique_prefix

STAFF_KEY = "staff-key-current-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {STAFF_KEY}"}
#: the lookups asked for a login user (Zendesk Chat is configured too, but cannot be asked)
ASKED = BY_EXTERNAL_ID + BY_EMAIL


def asked(lookups: dict[str, Any]) -> dict[str, Any]:
    return {name: member for name, member in lookups.items() if name not in NOT_SEARCHABLE}


def tools_settings(
    tools: Tools,
    *,
    redis_url: str | None = None,
    prefix: str | None = None,
    **changes: dict[str, Any],
) -> Settings:
    return settings(
        staff={"api_keys": [{"value": STAFF_KEY}]},
        redis={"url": redis_url, "key_prefix": prefix or unique_prefix()},
        cache={"visitor_ttl": 300, "negative_ttl": 30},
        lookups=tools.lookups(**changes),
    )


async def ask(
    client: AppClient, path: str = f"/v1/login-users/{DEV_LOGIN_USER}", **query: str
) -> tuple[int, Any]:
    async with client.get(path, headers=AUTH, params=query) as response:
        return response.status, await response.json()


async def test_a_user_present_everywhere_is_found_in_every_tool_that_can_be_asked(
    make_client: ClientFactory, fake_tools: Tools
) -> None:
    client = await make_client(tools_settings(fake_tools))
    status, body = await ask(client)
    assert status == 200
    assert body["login_user_id"] == DEV_LOGIN_USER
    assert body["email"] == DEV_EMAIL
    lookups = body["lookups"]
    assert list(lookups) == list(fake_tools.lookups())
    assert {name: m["status"] for name, m in asked(lookups).items()} == dict.fromkeys(
        ASKED, "found"
    )
    assert lookups["chat"] == {
        "type": "zendesk_chat", "status": "skipped", "reason": "not_searchable",
        "matched_by": "visitor_id", "records": [], "source": None,
    }  # fmt: skip
    for name in BY_EXTERNAL_ID:
        assert lookups[name]["matched_by"] == "external_id"
        assert "email_from" not in lookups[name]
        assert lookups[name]["records"][0]["external_id"] == DEV_LOGIN_USER
    for name in BY_EMAIL:
        assert lookups[name]["matched_by"] == "email"
        assert lookups[name]["email_from"] in BY_EXTERNAL_ID
        assert lookups[name]["records"][0]["email"] == DEV_EMAIL
    assert all(m["source"] == "vendor" for m in asked(lookups).values())
    assert lookups["freshdesk"]["records"][0] == {
        "id": "43000001001",
        "name": "Player One",
        "email": DEV_EMAIL,
        "external_id": DEV_LOGIN_USER,
        "url": f"{fake_tools.freshdesk.url}/a/contacts/43000001001",
    }
    assert lookups["messaging"]["type"] == "sunshine_conversations"


async def test_a_user_present_nowhere_is_not_found_and_email_lookups_are_skipped(
    make_client: ClientFactory, fake_tools: Tools
) -> None:
    client = await make_client(tools_settings(fake_tools))
    status, body = await ask(client, "/v1/login-users/nobody-at-all")
    assert status == 200
    assert body["email"] is None
    for name in BY_EXTERNAL_ID:
        assert body["lookups"][name]["status"] == "not_found"
        assert body["lookups"][name]["records"] == []
    for name in BY_EMAIL:
        assert body["lookups"][name]["status"] == "skipped"
        assert body["lookups"][name]["reason"] == "no_email"
    assert fake_tools.hubspot.calls == fake_tools.front.calls == fake_tools.crisp.calls == 0


async def test_a_given_email_is_used_and_help_scout_counts_exact_matches_only(
    make_client: ClientFactory, fake_tools: Tools
) -> None:
    client = await make_client(tools_settings(fake_tools))
    status, body = await ask(client, "/v1/login-users/nobody-at-all", email=DEV_EMAIL)
    assert status == 200
    assert body["email"] == DEV_EMAIL
    for name in BY_EMAIL:
        assert body["lookups"][name]["status"] == "found"
        assert "email_from" not in body["lookups"][name]
    # the search also matched other.player@example.com, which merely contains the email
    assert [r["email"] for r in body["lookups"]["helpscout"]["records"]] == [DEV_EMAIL]


async def test_twenty_concurrent_requests_make_one_call_per_lookup_then_all_cache(
    make_client: ClientFactory, fake_tools: Tools
) -> None:
    client = await make_client(tools_settings(fake_tools))
    fake_tools.set_delay(0.2)
    answers = await asyncio.gather(*(ask(client) for _ in range(20)))
    assert all(status == 200 for status, _ in answers)
    assert all(a == answers[0] for a in answers)
    # Zendesk answers two lookups (Chat is never asked); Help Scout is a token and a search
    assert fake_tools.calls() == {
        "FakeZendesk": 2, "FakeIntercom": 1, "FakeFreshdesk": 1, "FakeHubSpot": 1,
        "FakeFront": 1, "FakeHelpScout": 2, "FakeCrisp": 1,
    }  # fmt: skip
    _, body = await ask(client)
    assert {m["source"] for m in asked(body["lookups"]).values()} == {"cache"}
    assert {m["status"] for m in asked(body["lookups"]).values()} == {"found"}
    assert sum(fake_tools.calls().values()) == 9


async def test_one_fleet_shares_the_calls_and_the_cache_through_redis(
    make_client: ClientFactory, fake_tools: Tools, redis_server: RedisServer
) -> None:
    prefix = unique_prefix()
    config = tools_settings(fake_tools, redis_url=redis_server.url, prefix=prefix)
    first, second = await make_client(config), await make_client(config)
    fake_tools.set_delay(0.2)
    answers = await asyncio.gather(*(ask(c) for c in [first, second] * 10))
    assert {a[0] for a in answers} == {200}
    assert fake_tools.calls()["FakeIntercom"] == 1
    assert sum(fake_tools.calls().values()) == 9
    _, body = await ask(second)
    assert {m["source"] for m in asked(body["lookups"]).values()} == {"cache"}


async def test_a_hanging_vendor_delays_the_answer_by_its_deadline_only(
    make_client: ClientFactory, fake_tools: Tools
) -> None:
    client = await make_client(tools_settings(fake_tools, intercom={"deadline": 0.5}))
    fake_tools.intercom.then(Reply(hang=True))
    started = time.monotonic()
    status, body = await ask(client)
    elapsed = time.monotonic() - started
    assert status == 200
    assert 0.45 < elapsed < 1.5
    assert body["lookups"]["intercom"]["status"] == "error"
    assert body["lookups"]["intercom"]["code"] == "vendor_timeout"
    others = {n: m["status"] for n, m in asked(body["lookups"]).items() if n != "intercom"}
    assert set(others.values()) == {"found"}


async def test_the_answer_comes_within_the_largest_deadline(
    make_client: ClientFactory, fake_tools: Tools
) -> None:
    short: dict[str, Any] = {"deadline": 0.4}
    config = tools_settings(fake_tools, **dict.fromkeys(fake_tools.lookups(), short))  # type: ignore[arg-type]
    client = await make_client(config)
    fake_tools.zendesk.standing = Reply(hang=True)  # all three Zendesk lookups hang
    started = time.monotonic()
    status, body = await ask(client)
    assert time.monotonic() - started < 1.0
    fake_tools.zendesk.standing = None
    fake_tools.zendesk.release()
    assert status == 200
    for name in ("messaging", "support"):
        assert body["lookups"][name]["code"] == "vendor_timeout"
    assert body["lookups"]["intercom"]["status"] == "found"


async def test_wrong_credentials_for_one_tool_fail_that_tool_only(
    make_client: ClientFactory, fake_tools: Tools
) -> None:
    wrong = {"access_token": {"value": "not-the-token-0123456789"}}
    client = await make_client(tools_settings(fake_tools, hubspot=wrong))
    status, body = await ask(client)
    assert status == 200
    assert body["lookups"]["hubspot"]["status"] == "error"
    assert body["lookups"]["hubspot"]["code"] == "vendor_auth_failed"
    assert body["lookups"]["hubspot"]["records"] == []
    others = {m["status"] for n, m in asked(body["lookups"]).items() if n != "hubspot"}
    assert others == {"found"}


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (Reply(500, json={"error": "boom"}), "vendor_bad_response"),
        (Reply.html(), "vendor_bad_response"),
        (Reply(stream_bytes=2 * 1024 * 1024), "vendor_bad_response"),
        (Reply.retry_after("120"), "vendor_rate_limited"),
        (Reply(401, json={"error": "unauthorized"}), "vendor_auth_failed"),
    ],
)
async def test_a_vendor_failure_is_that_members_error_with_the_single_lookup_code(
    make_client: ClientFactory, fake_tools: Tools, reply: Reply, code: str
) -> None:
    client = await make_client(tools_settings(fake_tools, crisp={"max_retries": 0}))
    fake_tools.crisp.then(reply)
    started = time.monotonic()
    status, body = await ask(client)
    assert time.monotonic() - started < 2.0  # a long Retry-After is answered at once
    assert status == 200
    assert body["lookups"]["crisp"]["status"] == "error"
    assert body["lookups"]["crisp"]["code"] == code
    assert body["lookups"]["front"]["status"] == "found"


async def test_errors_are_never_cached(make_client: ClientFactory, fake_tools: Tools) -> None:
    client = await make_client(tools_settings(fake_tools))
    fake_tools.front.then(Reply(500, json={}))
    _, first = await ask(client)
    _, second = await ask(client)
    assert first["lookups"]["front"]["status"] == "error"
    assert second["lookups"]["front"]["status"] == "found"
    assert second["lookups"]["front"]["source"] == "vendor"


async def test_a_not_found_answer_is_cached(make_client: ClientFactory, fake_tools: Tools) -> None:
    client = await make_client(tools_settings(fake_tools))
    await ask(client, "/v1/login-users/nobody-at-all")
    calls = sum(fake_tools.calls().values())
    _, body = await ask(client, "/v1/login-users/nobody-at-all")
    assert sum(fake_tools.calls().values()) == calls
    assert body["lookups"]["intercom"] == {
        "type": "intercom", "status": "not_found", "matched_by": "external_id",
        "records": [], "source": "cache",
    }  # fmt: skip


async def test_help_scout_reuses_its_token_and_fetches_a_new_one_once_on_401(
    make_client: ClientFactory, fake_tools: Tools
) -> None:
    client = await make_client(tools_settings(fake_tools))
    helpscout = fake_tools.helpscout
    path = "/v1/login-users/nobody-at-all/helpscout"
    for email in ("a@example.com", "b@example.com"):
        _, body = await ask(client, path, email=email)
        assert body["lookups"]["helpscout"]["status"] == "not_found"
    assert helpscout.issued == 1
    helpscout.revoke()
    _, body = await ask(client, path, email="c@example.com")
    assert body["lookups"]["helpscout"]["status"] == "not_found"
    assert helpscout.issued == 2
    assert [r.path for r in helpscout.requests].count("/v2/oauth2/token") == 2
    assert all(DEV_EMAIL not in str(r.authorization) for r in helpscout.requests)


async def test_one_named_lookup_answers_alone(
    make_client: ClientFactory, fake_tools: Tools
) -> None:
    client = await make_client(tools_settings(fake_tools))
    status, body = await ask(client, f"/v1/login-users/{DEV_LOGIN_USER}/crisp", email=DEV_EMAIL)
    assert status == 200
    assert list(body["lookups"]) == ["crisp"]
    assert body["lookups"]["crisp"]["status"] == "found"
    assert fake_tools.intercom.calls == 0


async def test_an_unknown_lookup_name_is_404(make_client: ClientFactory, fake_tools: Tools) -> None:
    client = await make_client(tools_settings(fake_tools))
    status, body = await ask(client, f"/v1/login-users/{DEV_LOGIN_USER}/nosuchtool")
    assert status == 404
    assert body["code"] == "lookup_not_configured"


async def test_zendesk_keeps_its_answer_from_a_lookups_entry(
    make_client: ClientFactory, fake_tools: Tools
) -> None:
    client = await make_client(tools_settings(fake_tools))
    status, body = await ask(client, f"/v1/login-users/{DEV_LOGIN_USER}/zendesk")
    assert status == 200
    assert body["linked"] is True
    assert body["source"] == "zendesk"


async def test_staff_authentication_comes_before_any_vendor_call(
    make_client: ClientFactory, fake_tools: Tools
) -> None:
    client = await make_client(tools_settings(fake_tools))
    for headers in ({}, {"Authorization": "Bearer wrong-key-0123456789abcdef"}):
        async with client.get(f"/v1/login-users/{DEV_LOGIN_USER}", headers=headers) as response:
            assert response.status == 401
    assert sum(fake_tools.calls().values()) == 0


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1/login-users/bad%20id", {}),
        ("/v1/login-users/..", {}),
        (f"/v1/login-users/{DEV_LOGIN_USER}", {"email": 'x") OR (email:"'}),
        (f"/v1/login-users/{DEV_LOGIN_USER}", {"email": "no-at-sign"}),
    ],
)
async def test_malformed_input_is_400_and_asks_nobody(
    make_client: ClientFactory, fake_tools: Tools, path: str, query: dict[str, str]
) -> None:
    client = await make_client(tools_settings(fake_tools))
    status, body = await ask(client, path, **query)
    assert status in (400, 404)
    assert body["code"] in ("invalid_id", "not_found")
    assert sum(fake_tools.calls().values()) == 0


async def test_one_audit_line_names_the_caller_the_user_and_the_tools(
    make_client: ClientFactory, fake_tools: Tools, audit_lines: Lines
) -> None:
    client = await make_client(tools_settings(fake_tools))
    await ask(client)
    [line] = [a for a in audit_lines() if a.get("kind") == "login_user_tools"]
    assert line["staff"] == "key#1"
    assert line["id"] == DEV_LOGIN_USER
    assert line["lookups"] == list(fake_tools.lookups())
    assert line["verdict"] == "found"
    text = str(audit_lines())
    assert DEV_EMAIL not in text
    assert "Player One" not in text


async def test_metrics_count_each_lookup_by_name_and_type(
    make_client: ClientFactory, fake_tools: Tools
) -> None:
    client = await make_client(tools_settings(fake_tools))
    await ask(client)
    async with client.get("/metrics") as response:
        text = await response.text()
    assert 'bridge_lookup_answers_total{lookup="crisp",outcome="found",type="crisp"} 1.0' in text
    assert 'bridge_lookup_duration_seconds_count{lookup="front",type="front"} 1.0' in text
    assert 'bridge_lookup_breaker_state{lookup="helpscout",type="helpscout"} 0.0' in text
    assert 'bridge_vendor_requests_total{api="intercom",status="200",vendor="intercom"}' in text
