"""``GET /v1/visitors/{visitor_id}`` through HTTP: the gateway app, the fake Zendesk, real Redis."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
import yarl
from pytest_aiohttp import AiohttpServer

from bridge.dev import zendesk as devzendesk
from bridge.settings.root import Settings
from tests.conftest import SUB, AppClient, ClientFactory, Lines, login_token, settings
from tests.support.fake_zendesk import CHAT_TOKEN, LOGIN_USER, FakeZendesk, Reply
from tests.support.redis_server import RedisServer, unique_prefix

STAFF_KEY = "staff-key-current-0123456789abcdef"
OLD_STAFF_KEY = "staff-key-previous-0123456789abcdef"
LINKED = "9855790.xjj3ukxyIhn6j3"
ANONYMOUS = "9855790.anonymous1"
AUTH = {"Authorization": f"Bearer {STAFF_KEY}"}


def staff_settings(
    fake: FakeZendesk,
    *,
    redis_url: str | None = None,
    prefix: str | None = None,
    chat: dict[str, Any] | None = None,
    staff: dict[str, Any] | None = None,
    breaker_cooldown: float = 3.0,
    redis_timeout: float = 0.3,
    configure_chat: bool = True,
) -> Settings:
    sections: dict[str, Any] = {
        "staff": staff or {"api_keys": [{"value": STAFF_KEY}, {"value": OLD_STAFF_KEY}]},
        "redis": {
            "url": redis_url,
            "key_prefix": prefix or unique_prefix(),
            "breaker_cooldown": breaker_cooldown,
            "socket_timeout": redis_timeout,
            "connect_timeout": redis_timeout,
        },
        "cache": {"visitor_ttl": 300, "negative_ttl": 30},
    }
    if configure_chat:
        sections["zendesk_chat_api"] = {
            "base_url": fake.chat_url,
            "token": {"value": CHAT_TOKEN},
            **(chat or {}),
        }
    return settings(**sections)


@pytest.fixture
async def direct(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


async def get_json(client: AppClient, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with client.get(path, **kwargs) as response:
        return response.status, await response.json()


async def lookup(client: AppClient, visitor_id: str = LINKED) -> tuple[int, Any]:
    return await get_json(client, f"/v1/visitors/{visitor_id}", headers=AUTH)


# --- the answer -------------------------------------------------------------------------------


async def test_linked_visitor_names_its_login_user(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(staff_settings(fake_zendesk))
    async with client.get(f"/v1/visitors/{LINKED}", headers=AUTH) as response:
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        body = await response.json()
    assert body == {
        "visitor": {
            "id": LINKED,
            "name": "Player One",
            "email": "player@example.com",
            "phone": "",
            "notes": "VIP",
            "banned": False,
            "created": 1700000000,
            "external_id": LOGIN_USER,
        },
        "linked": True,
        "login_user_id": LOGIN_USER,
        "source": "zendesk",
    }


async def test_anonymous_visitor_is_not_linked(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(staff_settings(fake_zendesk))
    status, body = await lookup(client, ANONYMOUS)
    assert status == 200
    assert body["linked"] is False
    assert body["login_user_id"] is None
    assert body["visitor"]["created"] == "2024-05-01T12:00:00Z"


async def test_missing_optional_fields_are_null(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    fake_zendesk.visitors["bare"] = {"id": "bare"}
    client = await make_client(staff_settings(fake_zendesk))
    status, body = await lookup(client, "bare")
    assert status == 200
    assert set(body["visitor"].values()) == {"bare", None}


async def test_the_older_zopim_base_url_is_accepted(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    app_settings = staff_settings(fake_zendesk, chat={"base_url": fake_zendesk.zopim_url})
    client = await make_client(app_settings)
    assert (await lookup(client))[0] == 200
    assert fake_zendesk.requests[0].path == f"/api/v2/visitors/{LINKED}"


# --- staff authentication ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key-0123456789abcdef0123"},
        {"Authorization": f"Bearer {STAFF_KEY.upper()}"},
        {"Authorization": f"Bearer {STAFF_KEY[:-1]}"},
        {"Authorization": f"Basic {STAFF_KEY}"},
        {"Authorization": "Bearer "},
        {"Authorization": STAFF_KEY},
    ],
)
async def test_missing_or_wrong_staff_key_is_401_before_cache_or_zendesk(
    headers: dict[str, str],
    make_client: ClientFactory,
    fake_zendesk: FakeZendesk,
    redis_server: RedisServer,
    direct: aioredis.Redis,
) -> None:
    client = await make_client(staff_settings(fake_zendesk, redis_url=redis_server.url))
    await direct.config_resetstat()
    async with client.get(f"/v1/visitors/{LINKED}", headers=headers) as response:
        assert response.status == 401
        body = await response.json()
    assert body["code"] == "staff_unauthorized"
    assert fake_zendesk.calls == 0
    stats = await direct.info("commandstats")
    assert not [name for name in stats if name.split("|")[0] in ("cmdstat_get", "cmdstat_set")]


async def test_both_rotated_keys_work_and_the_audit_names_the_key_not_its_value(
    make_client: ClientFactory,
    fake_zendesk: FakeZendesk,
    audit_lines: Lines,
    log_stream: io.StringIO,
) -> None:
    client = await make_client(staff_settings(fake_zendesk))
    request_ids = []
    for key in (STAFF_KEY, OLD_STAFF_KEY):
        async with client.get(
            f"/v1/visitors/{LINKED}", headers={"Authorization": f"Bearer {key}"}
        ) as response:
            assert response.status == 200
            request_ids.append(response.headers["X-Request-ID"])
    audits = audit_lines()
    assert [a["event"] for a in audits] == ["staff lookup"] * 2
    assert [a["staff"] for a in audits] == ["key#1", "key#2"]
    assert [a["id"] for a in audits] == [LINKED, LINKED]
    assert [a["kind"] for a in audits] == ["visitor", "visitor"]
    assert [a["verdict"] for a in audits] == ["linked", "linked"]
    assert [a["source"] for a in audits] == ["zendesk", "cache"]
    assert [a["request_id"] for a in audits] == request_ids  # joins the access line
    assert all(isinstance(a["duration_ms"], float) for a in audits)
    assert all(a["level"] == "info" and a["timestamp"].endswith("Z") for a in audits)
    logged = log_stream.getvalue()
    assert STAFF_KEY not in logged
    assert OLD_STAFF_KEY not in logged
    assert CHAT_TOKEN not in logged


async def test_refused_lookups_are_audited_too(
    make_client: ClientFactory,
    fake_zendesk: FakeZendesk,
    audit_lines: Lines,
    log_stream: io.StringIO,
) -> None:
    client = await make_client(staff_settings(fake_zendesk))
    bad_key = "Bearer not-a-key-0123456789abcdef"
    async with client.get(f"/v1/visitors/{LINKED}", headers={"Authorization": bad_key}) as r:
        assert r.status == 401
    async with client.get("/v1/visitors/-bad%0Aid", headers=AUTH) as r:
        assert r.status == 400
    first, second = audit_lines()
    assert (first["staff"], first["verdict"]) == ("-", "staff_unauthorized")
    assert "not-a-key" not in log_stream.getvalue()
    assert (second["id"], second["verdict"]) == ("<invalid>", "invalid_id")


def group_settings(fake: FakeZendesk) -> Settings:
    return staff_settings(
        fake, staff={"api_keys": [{"value": STAFF_KEY}], "login_group": "support-staff"}
    )


async def test_a_login_user_in_the_staff_group_may_look_up(
    make_client: ClientFactory, fake_zendesk: FakeZendesk, audit_lines: Lines
) -> None:
    client = await make_client(group_settings(fake_zendesk))
    groups = [{"id": 7, "name": "support-staff", "is_default": False}]
    client.session.cookie_jar.update_cookies({"token": login_token(groups=groups)})
    status, body = await get_json(client, f"/v1/visitors/{LINKED}")
    assert status == 200
    assert body["linked"] is True
    [audit] = audit_lines()
    assert audit["staff"] == f"login:{SUB}"


@pytest.mark.parametrize(
    "token",
    [
        login_token(),  # only the default group
        login_token(groups="support-staff"),
        login_token(groups=[{"id": 7, "name": "support-staff"}], ttl=-100),  # expired
        "not-a-jwt",
    ],
)
async def test_a_login_user_outside_the_staff_group_is_401(
    token: str, make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(group_settings(fake_zendesk))
    client.session.cookie_jar.update_cookies({"token": token})
    status, body = await get_json(client, f"/v1/visitors/{LINKED}")
    assert status == 401
    assert body["code"] == "staff_unauthorized"
    assert fake_zendesk.calls == 0


async def test_the_login_cookie_is_ignored_unless_a_staff_group_is_configured(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(staff_settings(fake_zendesk))
    groups = [{"id": 7, "name": "support-staff", "is_default": False}]
    client.session.cookie_jar.update_cookies({"token": login_token(groups=groups)})
    status, _ = await get_json(client, f"/v1/visitors/{LINKED}")
    assert status == 401


# --- malformed ids ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "..",
        "%2e%2e",
        "%2e%2e%2fagents",
        "..%2Fagents",
        "%2e%2e%2f%2e%2e%2fagents",
        "a..b",
        "-leading-dash",
        ".hidden",
        "a%20b",
        "a%00b",
        "a%0Ab",
        "%C3%A4",
        "a" * 129,
    ],
)
async def test_malformed_visitor_id_is_400_without_a_call(
    raw: str, make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(staff_settings(fake_zendesk))
    url = yarl.URL(str(client.make_url("/")) + "v1/visitors/" + raw, encoded=True)
    async with client.session.get(url, headers=AUTH) as response:
        assert response.status == 400
        assert (await response.json())["code"] == "invalid_id"
    assert fake_zendesk.calls == 0


@pytest.mark.parametrize("raw", ["../agents", "x/../../agents", "../../chat/agents"])
async def test_dot_segments_never_reach_zendesk(
    raw: str, make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(staff_settings(fake_zendesk))
    url = yarl.URL(str(client.make_url("/")) + "v1/visitors/" + raw, encoded=True)
    async with client.session.get(url, headers=AUTH) as response:
        assert response.status in (400, 404)  # aiohttp resolves the dots: no route matches
    assert fake_zendesk.calls == 0


# --- the cache --------------------------------------------------------------------------------


async def test_second_lookup_is_from_the_cache_with_one_zendesk_call(
    make_client: ClientFactory,
    fake_zendesk: FakeZendesk,
    redis_server: RedisServer,
    direct: aioredis.Redis,
) -> None:
    prefix = unique_prefix()
    app_settings = staff_settings(fake_zendesk, redis_url=redis_server.url, prefix=prefix)
    client = await make_client(app_settings)
    assert (await lookup(client))[1]["source"] == "zendesk"
    status, body = await lookup(client)
    assert status == 200
    assert body["source"] == "cache"
    assert body["login_user_id"] == LOGIN_USER
    assert fake_zendesk.calls == 1
    # decode_responses; the staff rate limit keeps its own key (``{prefix}:v1:rl:...``)
    (key,) = [str(k) for k in await direct.keys(f"{prefix}:*") if ":v1:rl:" not in k]
    assert key.startswith(f"{prefix}:v1:visitor:")
    assert LINKED not in key
    assert 290_000 < await direct.pttl(key) <= 300_000


async def test_unknown_visitor_is_404_and_cached_briefly(
    make_client: ClientFactory,
    fake_zendesk: FakeZendesk,
    redis_server: RedisServer,
    direct: aioredis.Redis,
    audit_lines: Lines,
) -> None:
    prefix = unique_prefix()
    app_settings = staff_settings(fake_zendesk, redis_url=redis_server.url, prefix=prefix)
    client = await make_client(app_settings)
    for _ in range(3):
        status, body = await lookup(client, "nobody")
        assert status == 404
        assert body["code"] == "visitor_not_found"
    assert fake_zendesk.calls == 1
    audits = [(a["verdict"], a["source"]) for a in audit_lines()]
    assert audits == [("visitor_not_found", "zendesk")] + [("visitor_not_found", "cache")] * 2
    (key,) = await direct.keys(f"{prefix}:v1:visitor:*")
    assert 0 < await direct.pttl(key) <= 30_000


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (Reply.retry_after("120"), 503),
        (Reply(500, json={"error": "boom"}), 502),
        (Reply(503, json={}, headers={"Retry-After": "120"}), 503),
    ],
)
async def test_vendor_errors_are_never_cached(
    reply: Reply,
    status: int,
    make_client: ClientFactory,
    fake_zendesk: FakeZendesk,
    redis_server: RedisServer,
    direct: aioredis.Redis,
) -> None:
    prefix = unique_prefix()
    app_settings = staff_settings(fake_zendesk, redis_url=redis_server.url, prefix=prefix)
    client = await make_client(app_settings)
    fake_zendesk.then(reply)
    assert (await lookup(client))[0] == status
    assert await direct.keys(f"{prefix}:v1:visitor:*") == []
    status, body = await lookup(client)
    assert status == 200
    assert body["source"] == "zendesk"
    assert fake_zendesk.calls == 2


@pytest.mark.parametrize(
    "garbage",
    [b"\x80\x81not json", b"null", b'{"v": 2, "found": true}', b'{"v": 1, "found": true}'],
)
async def test_a_corrupt_cached_value_is_a_miss(
    garbage: bytes,
    make_client: ClientFactory,
    fake_zendesk: FakeZendesk,
    redis_server: RedisServer,
    direct: aioredis.Redis,
) -> None:
    prefix = unique_prefix()
    app_settings = staff_settings(fake_zendesk, redis_url=redis_server.url, prefix=prefix)
    client = await make_client(app_settings)
    assert (await lookup(client))[0] == 200
    (key,) = await direct.keys(f"{prefix}:v1:visitor:*")
    await direct.set(key, garbage, px=60_000)
    status, body = await lookup(client)
    assert status == 200
    assert body["source"] == "zendesk"
    assert fake_zendesk.calls == 2
    assert (await lookup(client))[1]["source"] == "cache"  # and the entry was repaired


@pytest.mark.parametrize("with_redis", [False, True])
async def test_fifty_concurrent_cold_lookups_make_one_zendesk_call(
    with_redis: bool,
    make_client: ClientFactory,
    fake_zendesk: FakeZendesk,
    redis_server: RedisServer,
) -> None:
    fake_zendesk.delay = 0.2
    redis_url = redis_server.url if with_redis else None
    client = await make_client(staff_settings(fake_zendesk, redis_url=redis_url))
    answers = await asyncio.gather(*(lookup(client) for _ in range(50)))
    assert {status for status, _ in answers} == {200}
    assert fake_zendesk.calls == 1


async def test_two_gateways_sharing_redis_make_one_zendesk_call(
    make_client: ClientFactory, fake_zendesk: FakeZendesk, redis_server: RedisServer
) -> None:
    fake_zendesk.delay = 0.2
    prefix = unique_prefix()
    # generous Redis timeouts: a pause of the test process (a garbage collection during the
    # burst) must not look like a Redis outage, which would rightly fail open
    sharing = staff_settings(
        fake_zendesk, redis_url=redis_server.url, prefix=prefix, redis_timeout=5.0
    )
    first = await make_client(sharing)
    second = await make_client(sharing)
    answers = await asyncio.gather(
        *(lookup(client) for _ in range(25) for client in (first, second))
    )
    assert {status for status, _ in answers} == {200}
    assert {body["login_user_id"] for _, body in answers} == {LOGIN_USER}
    assert fake_zendesk.calls == 1


async def test_without_redis_the_in_process_cache_serves(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(staff_settings(fake_zendesk))
    await lookup(client)
    assert (await lookup(client))[1]["source"] == "cache"
    assert fake_zendesk.calls == 1
    async with client.get("/readyz") as response:
        assert response.status == 200


# --- Redis failing ----------------------------------------------------------------------------


async def wait_redis(client: AppClient, state: str, within: float = 5.0) -> None:
    """Until /readyz says Redis is ``state``; the instance is ready all along."""
    give_up = time.monotonic() + within
    while True:
        async with client.get("/readyz") as response:
            assert response.status == 200
            if (await response.json())["redis"] == state:
                return
        assert time.monotonic() < give_up, f"/readyz never said redis {state}"
        await asyncio.sleep(0.05)


async def test_redis_killed_mid_test_then_restarted(
    make_client: ClientFactory, fake_zendesk: FakeZendesk, killable_redis: RedisServer
) -> None:
    app_settings = staff_settings(fake_zendesk, redis_url=killable_redis.url, breaker_cooldown=0.2)
    client = await make_client(app_settings)
    await wait_redis(client, "up")
    assert (await lookup(client))[1]["source"] == "zendesk"
    assert (await lookup(client))[1]["source"] == "cache"

    killable_redis.kill()
    for expected_calls in (2, 3, 4):  # answered, from Zendesk every time
        started = time.monotonic()
        status, body = await lookup(client)
        assert status == 200
        assert body["source"] == "zendesk"
        assert time.monotonic() - started < 2
        assert fake_zendesk.calls == expected_calls
    async with client.get("/readyz") as response:  # still ready: Redis is only a cache
        assert response.status == 200
        assert (await response.json())["redis"] == "down"
    # the token endpoints do not care
    client.session.cookie_jar.update_cookies({"token": login_token()})
    async with client.get("/generate/token") as response:
        assert response.status == 200

    killable_redis.start()
    await wait_redis(client, "up")
    await asyncio.sleep(0.25)  # past the breaker's cooldown
    assert (await lookup(client))[1]["source"] == "zendesk"  # the restarted Redis is empty
    assert (await lookup(client))[1]["source"] == "cache"


# --- Zendesk failing --------------------------------------------------------------------------


async def test_429_is_retried_after_retry_after(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(staff_settings(fake_zendesk))
    fake_zendesk.then(Reply.retry_after("1"))
    status, _ = await lookup(client)
    assert status == 200
    assert fake_zendesk.calls == 2


async def test_429_beyond_the_deadline_is_503_with_retry_after(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(staff_settings(fake_zendesk))
    fake_zendesk.then(Reply.retry_after("120"))
    async with client.get(f"/v1/visitors/{LINKED}", headers=AUTH) as response:
        assert response.status == 503
        assert response.headers["Retry-After"] == "120"
        assert (await response.json())["code"] == "vendor_rate_limited"
    assert fake_zendesk.calls == 1


async def test_the_breaker_opens_and_answers_503_without_calling(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    chat = {"breaker_failures": 3, "breaker_cooldown": 60, "max_retries": 0}
    client = await make_client(staff_settings(fake_zendesk, chat=chat))
    fake_zendesk.then(*(Reply(500, json={}) for _ in range(3)))
    for _ in range(3):
        assert (await lookup(client))[0] == 502
    for _ in range(5):
        async with client.get(f"/v1/visitors/{LINKED}", headers=AUTH) as response:
            assert response.status == 503
            assert (await response.json())["code"] == "vendor_circuit_open"
            assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert fake_zendesk.calls == 3


async def test_a_hanging_zendesk_is_504_at_the_deadline(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(staff_settings(fake_zendesk, chat={"deadline": 0.5}))
    fake_zendesk.then(Reply(hang=True))
    started = time.monotonic()
    status, body = await lookup(client)
    assert status == 504
    assert body["code"] == "vendor_timeout"
    assert time.monotonic() - started < 5  # about the deadline, not minutes


async def test_a_redirect_is_502_and_not_followed(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(staff_settings(fake_zendesk))
    fake_zendesk.then(Reply.redirect(f"/api/v2/chat/visitors/{ANONYMOUS}", status=301))
    status, body = await lookup(client)
    assert status == 502
    assert body["code"] == "vendor_bad_response"
    assert fake_zendesk.calls == 1


async def test_a_huge_body_is_502(make_client: ClientFactory, fake_zendesk: FakeZendesk) -> None:
    client = await make_client(staff_settings(fake_zendesk, chat={"max_body_bytes": 4096}))
    fake_zendesk.then(Reply(stream_bytes=2_000_000))
    status, body = await lookup(client)
    assert status == 502
    assert body["code"] == "vendor_bad_response"


async def test_html_instead_of_json_is_502(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(staff_settings(fake_zendesk))
    fake_zendesk.then(Reply.html())
    status, body = await lookup(client)
    assert status == 502
    assert body["code"] == "vendor_bad_response"


async def test_a_malformed_visitor_is_502(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(staff_settings(fake_zendesk))
    fake_zendesk.then(Reply(json={"id": LINKED, "banned": "maybe"}))
    assert (await lookup(client))[0] == 502


async def test_zendesk_refusing_our_token_is_502_vendor_auth_failed(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    wrong = "our-wrong-chat-token-0123456789abcdef"
    client = await make_client(staff_settings(fake_zendesk, chat={"token": {"value": wrong}}))
    async with client.get(f"/v1/visitors/{LINKED}", headers=AUTH) as response:
        assert response.status == 502
        text = await response.text()
    assert '"vendor_auth_failed"' in text
    assert wrong not in text
    assert STAFF_KEY not in text


async def test_lookup_not_configured_is_503_for_staff_and_401_for_others(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(staff_settings(fake_zendesk, configure_chat=False))
    status, body = await lookup(client)
    assert status == 503
    assert body["code"] == "lookup_not_configured"
    status, _ = await get_json(client, f"/v1/visitors/{LINKED}")
    assert status == 401


async def test_no_staff_keys_configured_means_nobody_gets_in(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(staff_settings(fake_zendesk, staff={"api_keys": []}))
    assert (await lookup(client))[0] == 401
    assert fake_zendesk.calls == 0


async def test_the_development_stand_in_answers_a_lookup_end_to_end(
    make_client: ClientFactory, aiohttp_server: AiohttpServer
) -> None:
    server = await aiohttp_server(devzendesk.FakeZendesk().app)
    base = str(server.make_url("/")).rstrip("/")
    app_settings = settings(
        zendesk_chat_api={
            "base_url": f"{base}/api/v2/chat",
            "token": {"value": devzendesk.CHAT_TOKEN},
        },
        zendesk_support_api={
            "base_url": base,
            "email": devzendesk.SUPPORT_EMAIL,
            "token": {"value": devzendesk.SUPPORT_TOKEN},
        },
        staff={"api_keys": [{"value": STAFF_KEY}]},
    )
    client = await make_client(app_settings)
    status, body = await lookup(client, "9855790.xjj3ukxyIhn6j3")
    assert status == 200
    assert body["login_user_id"] == devzendesk.DEV_LOGIN_USER
    path = f"/v1/login-users/{devzendesk.DEV_LOGIN_USER}/zendesk"
    status, body = await get_json(client, path, headers=AUTH)
    assert status == 200
    assert body["linked"] is True
