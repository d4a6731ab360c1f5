"""The lookup services and their resilient client, against the fake Zendesk (no gateway app)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from bridge.cache import MemoryCache
from bridge.errors import (
    InvalidIdentifier,
    VendorBadResponse,
    VisitorNotFound,
)
from bridge.settings.zendesk import ZendeskSupportApiSettings
from bridge.zendesk.clients import support_client
from bridge.zendesk.users import LoginUserLookup
from bridge.zendesk.visitors import parse_visitor
from tests.support.fake_zendesk import (
    CHAT_TOKEN,
    LOGIN_USER,
    SUPPORT_EMAIL,
    SUPPORT_TOKEN,
    FakeZendesk,
    Reply,
)
from tests.support.vendor_clients import ANONYMOUS, LINKED, chat, lookup_for

# --- parsing and the verdict ---------------------------------------------------------------


def test_a_visitor_with_an_external_id_is_linked_to_that_login_user() -> None:
    visitor = parse_visitor({"id": "v1", "external_id": LOGIN_USER})
    assert visitor.external_id == LOGIN_USER
    assert visitor.as_json() == {
        "id": "v1", "name": None, "email": None, "phone": None, "notes": None,
        "banned": None, "created": None, "external_id": LOGIN_USER,
    }  # fmt: skip


@pytest.mark.parametrize("created", [1700000000, 1700000000.5, "2024-05-01T12:00:00Z", None])
def test_created_passes_through_as_epoch_or_iso(created: Any) -> None:
    assert parse_visitor({"id": "v1", "created": created}).created == created


def test_a_numeric_id_becomes_a_string() -> None:
    assert parse_visitor({"id": 9855790}).id == "9855790"


@pytest.mark.parametrize(
    "data",
    [
        [],
        "visitor",
        {"id": True},
        {"id": "v1", "banned": "no"},
        {"id": "v1", "created": "yesterday"},
        {"id": "v1", "created": True},
        {"id": "v1", "email": 42},
        {"id": "v1", "external_id": {"sub": "x"}},
    ],
)
def test_a_malformed_visitor_is_a_bad_response(data: Any) -> None:
    with pytest.raises(VendorBadResponse):
        parse_visitor(data)


# --- lookups ------------------------------------------------------------------------------


async def test_linked_visitor_lookup(fake_zendesk: FakeZendesk, session: Any) -> None:
    verdict = await lookup_for(chat(session, fake_zendesk.chat_url)).lookup(LINKED)
    assert verdict.linked
    assert verdict.login_user_id == LOGIN_USER
    assert verdict.source == "zendesk"
    assert fake_zendesk.requests[0].path == f"/api/v2/chat/visitors/{LINKED}"
    assert fake_zendesk.requests[0].authorization == f"Bearer {CHAT_TOKEN}"


async def test_an_empty_external_id_is_not_linked(fake_zendesk: FakeZendesk, session: Any) -> None:
    verdict = await lookup_for(chat(session, fake_zendesk.chat_url)).lookup(ANONYMOUS)
    assert not verdict.linked
    assert verdict.login_user_id is None


async def test_the_older_zopim_base_url_works(fake_zendesk: FakeZendesk, session: Any) -> None:
    verdict = await lookup_for(chat(session, fake_zendesk.zopim_url)).lookup(LINKED)
    assert verdict.linked
    assert fake_zendesk.requests[0].path == f"/api/v2/visitors/{LINKED}"


async def test_second_lookup_comes_from_the_cache(fake_zendesk: FakeZendesk, session: Any) -> None:
    lookup = lookup_for(chat(session, fake_zendesk.chat_url))
    assert (await lookup.lookup(LINKED)).source == "zendesk"
    assert (await lookup.lookup(LINKED)).source == "cache"
    assert fake_zendesk.calls == 1


async def test_corrupt_cache_entry_is_a_miss(fake_zendesk: FakeZendesk, session: Any) -> None:
    cache = MemoryCache()
    for garbage in (b"\xff\xfe", b"[]", b'{"v": 1, "found": true, "value": {"id": false}}'):
        await cache.set(cache.key("visitor", LINKED), garbage, ttl=60)
        verdict = await lookup_for(chat(session, fake_zendesk.chat_url), cache).lookup(LINKED)
        assert verdict.source == "zendesk"
    assert fake_zendesk.calls == 3


@pytest.mark.parametrize(
    "bad_id",
    ["..", "../agents", "a..b", "-abc", ".abc", "a/b", "a b", "a%2Fb", "ä", "", "a" * 129],
)
async def test_malformed_visitor_id_is_refused_without_a_call(
    bad_id: str, fake_zendesk: FakeZendesk, session: Any
) -> None:
    with pytest.raises(InvalidIdentifier):
        await lookup_for(chat(session, fake_zendesk.chat_url)).lookup(bad_id)
    assert fake_zendesk.calls == 0


async def test_unknown_visitor_is_not_found_and_cached_briefly(
    fake_zendesk: FakeZendesk, session: Any
) -> None:
    lookup = lookup_for(chat(session, fake_zendesk.chat_url))
    for _ in range(2):
        with pytest.raises(VisitorNotFound):
            await lookup.lookup("nobody")
    assert fake_zendesk.calls == 1


# --- Support users ------------------------------------------------------------------------


def support_settings(base_url: str, *, email: str | None) -> ZendeskSupportApiSettings:
    return ZendeskSupportApiSettings.model_validate(
        {"base_url": base_url, "email": email, "token": {"value": SUPPORT_TOKEN}}
    )


async def test_support_lookup_uses_basic_auth_with_an_email(
    fake_zendesk: FakeZendesk, session: Any
) -> None:
    client = support_client(session, support_settings(fake_zendesk.url, email=SUPPORT_EMAIL))
    linkage = await LoginUserLookup(client, MemoryCache()).lookup(LOGIN_USER)
    assert linkage.linked
    assert [u.id for u in linkage.users] == ["361834961"]
    request = fake_zendesk.requests[0]
    assert request.path == "/api/v2/users/search"
    assert request.query == {"external_id": LOGIN_USER}
    pair = base64.b64decode((request.authorization or "").removeprefix("Basic ")).decode()
    assert pair == f"{SUPPORT_EMAIL}/token:{SUPPORT_TOKEN}"


async def test_support_lookup_uses_bearer_without_an_email(
    fake_zendesk: FakeZendesk, session: Any
) -> None:
    settings = support_settings(fake_zendesk.url + "/api/v2/", email=None)
    client = support_client(session, settings)
    assert (await LoginUserLookup(client, MemoryCache()).lookup(LOGIN_USER)).linked
    assert fake_zendesk.requests[0].authorization == f"Bearer {SUPPORT_TOKEN}"
    assert fake_zendesk.requests[0].path == "/api/v2/users/search"


async def test_users_whose_external_id_does_not_match_are_dropped(
    fake_zendesk: FakeZendesk, session: Any
) -> None:
    users = [*fake_zendesk.users]
    fake_zendesk.then(Reply(json={"users": users}))  # as if the filter had been ignored
    client = support_client(session, support_settings(fake_zendesk.url, email=None))
    linkage = await LoginUserLookup(client, MemoryCache()).lookup(LOGIN_USER.upper())
    assert [u.external_id for u in linkage.users] == [LOGIN_USER]  # case-insensitive


async def test_support_cache_entry_round_trips(fake_zendesk: FakeZendesk, session: Any) -> None:
    cache = MemoryCache()
    client = support_client(session, support_settings(fake_zendesk.url, email=None))
    lookup = LoginUserLookup(client, cache)
    first = await lookup.lookup(LOGIN_USER)
    second = await lookup.lookup(LOGIN_USER)
    assert second.source == "cache"
    assert second.users == first.users
    raw = await cache.get(cache.key("login_user", LOGIN_USER))
    assert raw is not None
    assert json.loads(raw)["v"] == 1
