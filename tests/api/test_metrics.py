"""``/metrics`` through HTTP: what each kind of request adds to the Prometheus exposition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bridge.settings.root import Settings
from tests.api.test_visitors import AUTH, LINKED, STAFF_KEY
from tests.conftest import SUB, AppClient, ClientFactory, login_token, settings
from tests.support.fake_zendesk import CHAT_TOKEN, FakeZendesk, Reply
from tests.support.prom import parse, scrape, value
from tests.support.redis_server import RedisServer, free_port, unique_prefix

TOKEN_ROUTE = "/v1/targets/{name}/token"


def cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"token={token}"}


def lookup_settings(fake: FakeZendesk, **chat: Any) -> Settings:
    return settings(
        staff={"api_keys": [{"value": STAFF_KEY}]},
        zendesk_chat_api={"base_url": fake.chat_url, "token": {"value": CHAT_TOKEN}, **chat},
    )


async def test_requests_are_counted_by_route_pattern_method_and_status(client: AppClient) -> None:
    for _ in range(2):
        assert (await client.get("/v1/targets/messaging/token", headers=cookie(login_token()))).ok
    assert (await client.post("/v1/targets/freshdesk/token")).status == 401
    assert (await client.get("/v1/targets/no-such-target/token")).status == 404
    assert (await client.get("/no/such/path/secret-looking-path")).status == 404

    samples = await scrape(client)
    requests = "bridge_http_requests_total"
    assert value(samples, requests, route=TOKEN_ROUTE, method="GET", status="200") == 2
    assert value(samples, requests, route=TOKEN_ROUTE, method="POST", status="401") == 1
    assert value(samples, requests, route=TOKEN_ROUTE, method="GET", status="404") == 1
    assert value(samples, requests, route="(unmatched)", method="GET", status="404") == 1
    histogram = "bridge_http_request_duration_seconds"
    assert value(samples, f"{histogram}_count", route=TOKEN_ROUTE) == 4
    assert value(samples, f"{histogram}_bucket", route=TOKEN_ROUTE, le="+Inf") == 4
    assert value(samples, f"{histogram}_sum", route=TOKEN_ROUTE) > 0
    # label values are patterns and names from the config, never the request's own path
    text = await (await client.get("/metrics")).text()
    assert "secret-looking-path" not in text
    assert "no-such-target" not in text
    assert 'route="/v1/targets/messaging/token"' not in text


async def test_tokens_minted_are_counted_by_target(client: AppClient) -> None:
    token = login_token()
    assert (await client.get("/generate/token", headers=cookie(token))).status == 200
    for _ in range(3):
        assert (await client.get("/v1/targets/zipchat/token", headers=cookie(token))).ok
    assert (await client.get("/v1/targets/zipchat/token")).status == 401  # not minted

    samples = await scrape(client)
    assert value(samples, "bridge_tokens_minted_total", target="chat") == 1
    assert value(samples, "bridge_tokens_minted_total", target="zipchat") == 3
    assert value(samples, "bridge_tokens_minted_total", target="messaging") == 0


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "00-00"),
        (login_token(ttl=-3600), "expired"),
        (login_token("wrong-secret-0123456789abcdef0123456789"), "bad_signature"),
        (login_token(sub=None), "no_sub"),
        ("not.a.jwt", "bad_base64"),
        (login_token(email=None), "00-03"),
    ],
)
async def test_verification_failures_are_counted_by_reason(
    client: AppClient, token: str | None, reason: str
) -> None:
    headers = cookie(token) if token is not None else {}
    response = await client.get("/generate/token", headers=headers)
    assert response.status in (401, 422)
    samples = await scrape(client)
    failures = {
        dict(labels)["reason"]: count
        for (name, labels), count in samples.items()
        if name == "bridge_token_verification_failures_total"
    }
    assert failures == {reason: 1}


async def test_staff_lookups_count_cache_hits_misses_and_zendesk_answers(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(lookup_settings(fake_zendesk))
    for visitor in (LINKED, LINKED, LINKED, "9855790.nobody"):
        async with client.get(f"/v1/visitors/{visitor}", headers=AUTH) as response:
            assert response.status in (200, 404)

    samples = await scrape(client)
    assert value(samples, "bridge_cache_lookups_total", kind="visitor", result="miss") == 2
    assert value(samples, "bridge_cache_lookups_total", kind="visitor", result="hit") == 2
    calls = {"vendor": "zendesk", "api": "chat"}
    assert value(samples, "bridge_vendor_requests_total", **calls, status="200") == 1
    assert value(samples, "bridge_vendor_requests_total", **calls, status="404") == 1
    assert value(samples, "bridge_vendor_breaker_state", **calls) == 0
    # the deprecated names still carry the same values for this release
    assert value(samples, "bridge_zendesk_requests_total", api="chat", status="200") == 1
    assert value(samples, "bridge_zendesk_requests_total", api="chat", status="404") == 1
    assert value(samples, "bridge_zendesk_breaker_state", api="chat") == 0


async def test_breaker_state_shows_an_open_circuit(
    make_client: ClientFactory, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(
        lookup_settings(fake_zendesk, max_retries=0, breaker_failures=2, breaker_cooldown=600)
    )
    fake_zendesk.then(Reply(503), Reply(502))
    for visitor in ("9855790.a", "9855790.b", "9855790.c"):
        async with client.get(f"/v1/visitors/{visitor}", headers=AUTH) as response:
            assert response.status == 503
    samples = await scrape(client)
    calls = {"vendor": "zendesk", "api": "chat"}
    assert value(samples, "bridge_vendor_breaker_state", **calls) == 2
    assert value(samples, "bridge_vendor_requests_total", **calls, status="503") == 1
    assert value(samples, "bridge_vendor_requests_total", **calls, status="502") == 1
    assert value(samples, "bridge_zendesk_breaker_state", api="chat") == 2
    assert value(samples, "bridge_zendesk_requests_total", api="chat", status="503") == 1
    assert len(fake_zendesk.requests) == 2  # the third was answered by the open breaker


async def test_redis_availability_follows_the_server(
    make_client: ClientFactory, killable_redis: RedisServer
) -> None:
    redis = {"url": killable_redis.url, "key_prefix": unique_prefix(), "breaker_cooldown": 0}
    client = await make_client(settings(redis=redis))

    async def probe() -> str:  # the probe pings Redis; the instance is ready either way
        async with client.get("/readyz") as response:
            assert response.status == 200
            state: str = (await response.json())["redis"]
            return state

    assert await probe() == "up"
    assert value(await scrape(client), "bridge_redis_up") == 1
    killable_redis.kill()
    assert await probe() == "down"
    assert value(await scrape(client), "bridge_redis_up") == 0
    killable_redis.start()
    assert await probe() == "up"
    assert value(await scrape(client), "bridge_redis_up") == 1


async def test_without_redis_there_is_no_redis_up_series(client: AppClient) -> None:
    samples = await scrape(client)
    assert not any(name == "bridge_redis_up" for name, _ in samples)


async def test_metrics_can_have_a_port_of_their_own(make_client: ClientFactory) -> None:
    port = free_port()
    client = await make_client(settings(metrics={"port": port, "path": "/internal/metrics"}))
    assert (await client.get("/metrics")).status == 404
    assert (await client.get("/internal/metrics")).status == 404
    assert (await client.get("/generate/token")).status == 401
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/internal/metrics") as response,
    ):
        assert response.status == 200
        samples = parse(await response.text())
    assert value(samples, "bridge_token_verification_failures_total", reason="00-00") == 1


async def test_metrics_can_be_turned_off(make_client: ClientFactory) -> None:
    client = await make_client(settings(metrics={"enabled": False}))
    assert (await client.get("/metrics")).status == 404
    response = await client.get("/generate/token", headers=cookie(login_token()))
    assert response.status == 200
    assert SUB not in (await response.text())


async def test_rate_limit_refusals_are_counted_by_limit(make_client: ClientFactory) -> None:
    limits = {"per_address": {"per_minute": 60, "burst": 2}, "per_subject": None}
    client = await make_client(settings(rate_limits=limits))
    statuses = [(await client.get("/generate/token")).status for _ in range(4)]
    assert statuses == [401, 401, 429, 429]
    samples = await scrape(client)
    assert value(samples, "bridge_rate_limit_events_total", limit="address", outcome="limited") == 2


def test_a_batch_of_durations_exposes_what_observing_them_one_by_one_does() -> None:
    """``record_requests`` takes a batch per series; the exposition must be exactly what
    ``observe`` per value, as requests came, gives."""
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    from bridge.metrics import LATENCY_BUCKETS, Metrics

    durations = [0.0, 0.0001, 0.0005, 0.00051, 0.001, 0.3, 5.0, 7.5, 0.0004, 0.0025, 0.0025]
    metrics = Metrics()
    half = len(durations) // 2  # two batches, so the second adds to the first
    first, second = durations[:half], durations[half:]
    metrics.record_requests({(TOKEN_ROUTE, "GET", 200): len(first)}, {TOKEN_ROUTE: first}, {}, {})
    metrics.record_requests(
        {(TOKEN_ROUTE, "GET", 200): len(second)}, {TOKEN_ROUTE: second}, {"chat": 3}, {"expired": 2}
    )

    registry = CollectorRegistry()
    reference = Histogram(
        "bridge_http_request_duration_seconds", "Time from request to answer.",
        ["route"], buckets=LATENCY_BUCKETS, registry=registry,
    )  # fmt: skip
    for seconds in durations:
        reference.labels(TOKEN_ROUTE).observe(seconds)

    ours = parse(generate_latest(metrics.registry).decode())
    expected = parse(generate_latest(registry).decode())
    buckets = {key: v for key, v in expected.items() if key[0].endswith(("_bucket", "_count"))}
    assert len(buckets) == len(LATENCY_BUCKETS) + 2  # every bucket, +Inf and the count
    for key, count in buckets.items():
        assert ours[key] == count, key
    total = ("bridge_http_request_duration_seconds_sum", frozenset({("route", TOKEN_ROUTE)}))
    assert ours[total] == pytest.approx(expected[total])
    labels = {"route": TOKEN_ROUTE, "method": "GET", "status": "200"}
    assert value(ours, "bridge_http_requests_total", **labels) == len(durations)
    assert value(ours, "bridge_tokens_minted_total", target="chat") == 3
    assert value(ours, "bridge_token_verification_failures_total", reason="expired") == 2


def test_durations_add_up_every_workers_published_buckets(tmp_path: Path) -> None:
    """Each worker publishes its buckets to its own file; a scrape adds them to its own and
    passes over a file it cannot read (a worker caught mid-write, or anything else)."""
    from prometheus_client.core import Metric

    from bridge.metrics import Durations

    directory = str(tmp_path)
    one, two, scraper = (Durations(pid=pid) for pid in (101, 102, 103))
    one.observe_many(TOKEN_ROUTE, [0.0004, 0.002])
    two.observe_many(TOKEN_ROUTE, [0.3])
    two.observe_many("/v1/visitors/{visitor_id}", [1.5])
    scraper.observe_many(TOKEN_ROUTE, [7.0])  # its own, not yet published
    one.publish(directory)
    two.publish(directory)
    (tmp_path / "durations-104.json").write_bytes(b'{"truncat')
    (tmp_path / "durations-105.json").write_bytes(b'{"/x": [1, 2]}')  # the wrong shape
    width = 16  # 13 bounds, +Inf and the sum
    (tmp_path / "durations-106.json").write_bytes(b'{"/x": [' + b'"a",' * (width - 1) + b'"a"]}')
    (tmp_path / "durations-107.json").write_bytes(b"[1, 2, 3]")

    families: list[Metric] = list(scraper.collect(directory))
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples
    }
    route = ("route", TOKEN_ROUTE)
    assert samples[("bridge_http_request_duration_seconds_count", (route,))] == 4
    assert samples[("bridge_http_request_duration_seconds_bucket", (("le", "0.0005"), route))] == 1
    assert samples[("bridge_http_request_duration_seconds_bucket", (("le", "0.0025"), route))] == 2
    assert samples[("bridge_http_request_duration_seconds_bucket", (("le", "5.0"), route))] == 3
    assert samples[("bridge_http_request_duration_seconds_bucket", (("le", "+Inf"), route))] == 4
    assert samples[("bridge_http_request_duration_seconds_sum", (route,))] == pytest.approx(7.3024)
    visitors = ("route", "/v1/visitors/{visitor_id}")
    assert samples[("bridge_http_request_duration_seconds_count", (visitors,))] == 1
    assert not any("/x" in str(key) for key in samples)
    # publishing again replaces the file rather than adding to it
    one.publish(directory)
    again = {s.name: s.value for f in scraper.collect(directory) for s in f.samples
             if s.labels.get("route") == TOKEN_ROUTE and s.name.endswith("_count")}  # fmt: skip
    assert again["bridge_http_request_duration_seconds_count"] == 4
