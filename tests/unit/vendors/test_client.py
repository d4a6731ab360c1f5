"""The vendor-neutral client, breaker and single flight (:mod:`bridge.vendors`), against the
Zendesk stand-in through a visitor lookup (the smallest real lookup on them)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from bridge.cache import MemoryCache
from bridge.errors import (
    CircuitOpen,
    NotFound,
    VendorAuthFailed,
    VendorBadResponse,
    VendorError,
    VendorRateLimited,
    VendorRefusedInput,
    VendorTimeout,
    VendorUnavailable,
)
from bridge.vendors.breaker import CircuitBreaker
from bridge.vendors.client import parse_retry_after
from bridge.vendors.singleflight import DECODED_ENTRIES
from bridge.zendesk.visitors import Visitor
from tests.support.fake_zendesk import (
    CHAT_TOKEN,
    LOGIN_USER,
    FakeZendesk,
    Reply,
)
from tests.support.redis_server import free_port
from tests.support.vendor_clients import ANONYMOUS, LINKED, chat, lookup_for

# --- Retry-After


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    when = datetime.now(UTC) + timedelta(seconds=30)
    delay = parse_retry_after(format_datetime(when, usegmt=True))
    assert delay is not None
    assert 28 <= delay <= 31
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# --- single flight over the cache


async def test_a_changed_cache_entry_is_decoded_again_and_the_decoded_ones_are_bounded(
    fake_zendesk: FakeZendesk, session: Any
) -> None:
    cache = MemoryCache()
    lookup = lookup_for(chat(session, fake_zendesk.chat_url), cache)
    key = cache.key("visitor", LINKED)
    for name in ("First", "Second", "First"):
        entry = {"v": 1, "found": True, "value": Visitor(LINKED, name=name).as_json()}
        await cache.set(key, json.dumps(entry).encode(), ttl=60)
        verdict = await lookup.lookup(LINKED)
        assert (verdict.source, verdict.visitor.name) == ("cache", name)
    for i in range(DECODED_ENTRIES + 10):
        entry = {"v": 1, "found": True, "value": Visitor(LINKED, name=f"n{i}").as_json()}
        await cache.set(key, json.dumps(entry).encode(), ttl=60)
        assert (await lookup.lookup(LINKED)).visitor.name == f"n{i}"
    assert len(lookup._flights._decoded) <= DECODED_ENTRIES
    assert fake_zendesk.calls == 0


async def test_fifty_concurrent_cold_lookups_make_one_call(
    fake_zendesk: FakeZendesk, session: Any
) -> None:
    fake_zendesk.delay = 0.1
    lookup = lookup_for(chat(session, fake_zendesk.chat_url))
    verdicts = await asyncio.gather(*(lookup.lookup(LINKED) for _ in range(50)))
    assert {v.login_user_id for v in verdicts} == {LOGIN_USER}
    assert fake_zendesk.calls == 1


async def test_a_cancelled_caller_does_not_cancel_the_shared_flight(
    fake_zendesk: FakeZendesk, session: Any
) -> None:
    fake_zendesk.delay = 0.1
    lookup = lookup_for(chat(session, fake_zendesk.chat_url))
    first = asyncio.create_task(lookup.lookup(LINKED))
    await asyncio.sleep(0.02)
    second = asyncio.create_task(lookup.lookup(LINKED))
    first.cancel()
    assert (await second).linked
    assert fake_zendesk.calls == 1


# --- the resilient client and its breaker


async def test_429_is_retried_after_its_retry_after(
    fake_zendesk: FakeZendesk, session: Any
) -> None:
    fake_zendesk.then(Reply.retry_after("1"))
    started = time.monotonic()
    verdict = await lookup_for(chat(session, fake_zendesk.chat_url)).lookup(LINKED)
    assert verdict.linked
    assert fake_zendesk.calls == 2
    assert time.monotonic() - started >= 0.95


async def test_retry_after_as_an_http_date_is_honoured(
    fake_zendesk: FakeZendesk, session: Any
) -> None:
    when = datetime.now(UTC) + timedelta(seconds=2)
    fake_zendesk.then(Reply.retry_after(format_datetime(when, usegmt=True), status=503))
    started = time.monotonic()
    assert (await lookup_for(chat(session, fake_zendesk.chat_url)).lookup(LINKED)).linked
    assert fake_zendesk.calls == 2
    assert time.monotonic() - started >= 0.5  # whole seconds in the header: at least ~1 s


async def test_retry_after_beyond_the_deadline_is_503_with_our_retry_after(
    fake_zendesk: FakeZendesk, session: Any
) -> None:
    fake_zendesk.then(Reply.retry_after("120"))
    started = time.monotonic()
    with pytest.raises(VendorRateLimited) as caught:
        await lookup_for(chat(session, fake_zendesk.chat_url, deadline=2)).lookup(LINKED)
    assert time.monotonic() - started < 1
    assert caught.value.status == 503
    assert caught.value.retry_after == 120
    assert fake_zendesk.calls == 1


async def test_503_is_retried_up_to_max_retries(fake_zendesk: FakeZendesk, session: Any) -> None:
    fake_zendesk.then(*(Reply(503, json={}) for _ in range(5)))
    with pytest.raises(VendorUnavailable) as caught:
        await lookup_for(chat(session, fake_zendesk.chat_url, max_retries=2)).lookup(LINKED)
    assert fake_zendesk.calls == 3
    assert caught.value.retry_after is not None


@pytest.mark.parametrize("status", [500, 400, 422])
async def test_other_errors_are_not_retried(
    status: int, fake_zendesk: FakeZendesk, session: Any
) -> None:
    fake_zendesk.then(Reply(status, json={"error": "boom"}))
    with pytest.raises(VendorBadResponse):
        await lookup_for(chat(session, fake_zendesk.chat_url)).lookup(LINKED)
    assert fake_zendesk.calls == 1


async def test_connection_errors_are_retried_then_503(session: Any) -> None:
    client = chat(session, f"http://127.0.0.1:{free_port()}/api/v2/chat", max_retries=2)
    with pytest.raises(VendorUnavailable) as caught:
        await lookup_for(client).lookup(LINKED)
    assert caught.value.reason == "connection_error"


async def test_breaker_opens_and_then_answers_at_once(
    fake_zendesk: FakeZendesk, session: Any
) -> None:
    breaker = CircuitBreaker(failures=2, cooldown=0.3)
    client = chat(session, fake_zendesk.chat_url, max_retries=0, breaker=breaker)
    lookup = lookup_for(client)
    fake_zendesk.then(Reply(500, json={}), Reply(500, json={}))
    for _ in range(2):
        with pytest.raises(VendorBadResponse):
            await lookup.lookup(LINKED)
    with pytest.raises(CircuitOpen) as caught:
        await lookup.lookup(LINKED)
    assert caught.value.retry_after == 1
    assert fake_zendesk.calls == 2
    await asyncio.sleep(0.35)  # cooldown over: one trial call, which succeeds and closes it
    assert (await lookup.lookup(LINKED)).linked
    assert breaker.state == "closed"
    assert fake_zendesk.calls == 3


@pytest.mark.parametrize(
    ("status", "counts"),
    [(400, False), (409, False), (422, False), (401, True), (403, True), (500, True),
     (429, True), (404, False)],
)  # fmt: skip
async def test_only_the_vendors_trouble_counts_towards_the_breaker(
    fake_zendesk: FakeZendesk, session: Any, status: int, counts: bool
) -> None:
    """A 4xx about one lookup's own input is that lookup's failure; 401/403 (our account),
    429 and 5xx are the vendor's, for everybody."""
    breaker = CircuitBreaker(failures=3, cooldown=60)
    client = chat(session, fake_zendesk.chat_url, max_retries=0, breaker=breaker)
    fake_zendesk.then(*[Reply(status, json={})] * 3)
    for _ in range(3):
        with pytest.raises((VendorError, NotFound)):
            await client.get_json("/visitors/x")
    assert breaker.state == ("open" if counts else "closed")
    if status == 400:
        fake_zendesk.then(Reply(400, json={}))
        with pytest.raises(VendorRefusedInput) as caught:
            await client.get_json("/visitors/x")
        assert (caught.value.status, caught.value.code) == (502, "vendor_bad_response")


def test_breaker_half_open_admits_one_trial_and_reopens_on_its_failure() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures=1, cooldown=10, clock=lambda: now[0])
    breaker.failure()
    assert breaker.state == "open"
    now[0] = 10.0
    breaker.check()  # the trial
    with pytest.raises(CircuitOpen):
        breaker.check()  # no second trial meanwhile
    breaker.failure()
    assert breaker.state == "open"
    with pytest.raises(CircuitOpen):
        breaker.check()


async def test_a_hanging_zendesk_is_a_timeout_at_the_deadline(
    fake_zendesk: FakeZendesk, session: Any
) -> None:
    fake_zendesk.then(Reply(hang=True))
    started = time.monotonic()
    with pytest.raises(VendorTimeout):
        await lookup_for(chat(session, fake_zendesk.chat_url, deadline=0.5)).lookup(LINKED)
    assert time.monotonic() - started < 5


async def test_redirects_are_not_followed(fake_zendesk: FakeZendesk, session: Any) -> None:
    fake_zendesk.then(Reply.redirect(f"/api/v2/chat/visitors/{ANONYMOUS}"))
    with pytest.raises(VendorBadResponse) as caught:
        await lookup_for(chat(session, fake_zendesk.chat_url)).lookup(LINKED)
    assert caught.value.reason == "redirect"
    assert fake_zendesk.calls == 1


async def test_a_huge_body_is_a_bad_response(fake_zendesk: FakeZendesk, session: Any) -> None:
    client = chat(session, fake_zendesk.chat_url, max_body_bytes=4096)
    fake_zendesk.then(
        Reply(json={"id": LINKED, "notes": "x" * 10_000}),  # with a Content-Length
        Reply(stream_bytes=1_000_000),  # chunked, no Content-Length
    )
    for _ in range(2):
        with pytest.raises(VendorBadResponse) as caught:
            await lookup_for(client).lookup(LINKED)
        assert caught.value.reason == "body_too_large"


async def test_html_instead_of_json_is_a_bad_response(
    fake_zendesk: FakeZendesk, session: Any
) -> None:
    fake_zendesk.then(
        Reply.html(),
        Reply(body=b"<html>not json</html>", content_type="application/json"),
    )
    for _ in range(2):
        with pytest.raises(VendorBadResponse) as caught:
            await lookup_for(chat(session, fake_zendesk.chat_url)).lookup(LINKED)
        assert caught.value.reason == "not_json"


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_are_our_misconfiguration(
    status: int, fake_zendesk: FakeZendesk, session: Any
) -> None:
    fake_zendesk.then(Reply(status, json={"error": "invalid_token"}))
    with pytest.raises(VendorAuthFailed) as caught:
        await lookup_for(chat(session, fake_zendesk.chat_url)).lookup(LINKED)
    assert caught.value.status == 502
    assert caught.value.code == "vendor_auth_failed"
    assert CHAT_TOKEN not in str(caught.value)


async def test_a_404_is_not_found(fake_zendesk: FakeZendesk, session: Any) -> None:
    with pytest.raises(NotFound):
        await chat(session, fake_zendesk.chat_url).get_json("/visitors/nobody")
