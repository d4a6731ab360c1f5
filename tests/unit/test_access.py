"""Request records: access lines and request metrics are made in batches, and none is lost.

The edge middleware appends one record per request; ``bridge.access`` turns batches into lines
and metric updates every ``log.access_flush_seconds``, at ``BATCH_LIMIT`` records, before a
scrape, and at shutdown. These tests pin each of those moments down.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from bridge.access import BATCH_LIMIT, SAFE_LINE_KEYS, AccessRecords, flush_all, write_lines
from bridge.log import SENSITIVE_KEYS
from tests.conftest import AppClient, ClientFactory, logging_to, login_token, settings


def access(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in stream.getvalue().splitlines())
    return [line for line in lines if line.get("logger") == "bridge.access"]


def seconds_of(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


async def test_lines_wait_for_the_batch_and_keep_their_requests_time(
    make_client: ClientFactory, log_stream: io.StringIO
) -> None:
    client = await make_client(settings(log={"access_flush_seconds": 60}))
    before = time.time()
    response = await client.get("/generate/token", headers={"Cookie": f"token={login_token()}"})
    assert response.status == 200
    assert access(log_stream) == []  # not yet: the batch is written at most every 60 s
    await asyncio.sleep(0.05)
    flush_all()
    [line] = access(log_stream)
    assert line["request_id"] == response.headers["X-Request-ID"]
    # the line says when the request was answered, not when the batch was written
    assert before - 0.002 <= seconds_of(line["timestamp"]) <= time.time() - 0.04


async def test_the_running_app_writes_its_batch_every_interval(
    make_client: ClientFactory, log_stream: io.StringIO
) -> None:
    client = await make_client(settings(log={"access_flush_seconds": 0.1}))
    await client.get("/generate/token")
    for _ in range(50):  # the app's own timer, no flush from the test
        if access(log_stream):
            break
        await asyncio.sleep(0.02)
    [line] = access(log_stream)
    assert (line["status"], line["reason"]) == (401, "00-00")  # no login cookie


async def test_zero_seconds_writes_each_line_at_once(
    make_client: ClientFactory, log_stream: io.StringIO
) -> None:
    client = await make_client(settings(log={"access_flush_seconds": 0}))
    for expected in (1, 2, 3):
        await client.get("/generate/token")
        assert len(access(log_stream)) == expected


async def test_a_full_batch_is_written_without_waiting(
    make_client: ClientFactory, log_stream: io.StringIO
) -> None:
    client = await make_client(settings(log={"access_flush_seconds": 60}))
    for _ in range(BATCH_LIMIT - 2):
        await client.get("/healthz")  # recorded (counted), though probes get no line
    await client.get("/generate/token")
    assert access(log_stream) == []  # BATCH_LIMIT - 1 records wait
    await client.get("/generate/token")  # the batch is full: lines and metrics go out
    assert len(access(log_stream)) == 2


async def test_a_scrape_counts_every_request_answered_before_it(
    make_client: ClientFactory,
) -> None:
    client: AppClient = await make_client(settings(log={"access_flush_seconds": 60}))
    for _ in range(7):
        await client.get("/generate/token")
    text = await (await client.get("/metrics")).text()
    line = next(
        ln for ln in text.splitlines()
        if ln.startswith("bridge_http_requests_total{")
        and 'route="/generate/token"' in ln and 'status="401"' in ln
    )  # fmt: skip
    assert float(line.rsplit(" ", 1)[1]) == 7


async def test_shutting_the_app_down_writes_what_is_left(
    make_client: ClientFactory, log_stream: io.StringIO
) -> None:
    client = await make_client(settings(log={"access_flush_seconds": 60}))
    await client.get("/generate/token")
    assert access(log_stream) == []
    await client.close()  # the app's cleanup
    assert len(access(log_stream)) == 1


def test_nothing_is_kept_when_nothing_is_wanted() -> None:
    records = AccessRecords(None, log_requests=False, interval=1)
    assert not records.wanted


@pytest.fixture
def binary_stream() -> Iterator[io.BytesIO]:
    """Logging onto a bytes-backed stream: the writer bridge serve uses on stdout."""
    raw = io.BytesIO()
    with logging_to(io.TextIOWrapper(raw, write_through=True)):
        yield raw


def test_safe_line_keys_hold_nothing_sensitive() -> None:
    assert SAFE_LINE_KEYS.isdisjoint(SENSITIVE_KEYS)
    assert all(key.islower() for key in SAFE_LINE_KEYS)


def test_the_stdout_writer_redacts_only_what_needs_it(binary_stream: io.BytesIO) -> None:
    jwt_like = login_token()
    clean = {"event": "request", "logger": "bridge.access", "subject": "user-1", "status": 200}
    shady = {"event": "request", "logger": "bridge.access", "subject": jwt_like, "status": 200}
    foreign = {"event": "x", "logger": "bridge.test", "Cookie": "token=abc", "note": "fine"}
    write_lines([dict(clean), dict(clean)])
    write_lines([dict(clean), dict(shady), dict(foreign)])
    lines = [json.loads(line) for line in binary_stream.getvalue().splitlines()]
    assert lines[0] == lines[1] == lines[2] == {**clean, "level": "info"}
    assert lines[3]["subject"] == "[redacted-jwt]"
    assert lines[4]["Cookie"] == "[redacted]"
    assert lines[4]["note"] == "fine"
    assert jwt_like.encode() not in binary_stream.getvalue()
    assert b"token=abc" not in binary_stream.getvalue()
