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

from bridge.access import BATCH_LIMIT, AccessRecords, flush_all
from bridge.access_lines import SAFE_LINE_KEYS, AnswerLines, write_lines
from bridge.access_records import Answers
from bridge.log import SENSITIVE_KEYS
from bridge.metrics import Metrics
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


#: a run's entries as the token fast path makes them, and the shapes a writer must escape
ENTRIES = [
    ("4bcfc74005314e690000000000000001", 0.000018, "00000000-0000-4000-8000-000000000000"),
    ("trace-0123:a=b+c", 1.5, "Zoë 用户"),
    ("4bcfc74005314e690000000000000003", 0.0004995, None),
    ("4bcfc74005314e690000000000000004", 12.3456789, 'quote " and back\\slash'),
    ("4bcfc74005314e690000000000000005", 0.0, "tab\tand\x01control"),
]


def parsed(stream: io.BytesIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def counted(metrics: Metrics) -> list[str]:
    """The exposition's samples, without the time each series was created."""
    text = metrics.exposition().decode()
    return [line for line in text.splitlines() if "_created{" not in line]


def runs_and_records(entries: list[tuple[str, float, str | None]]) -> tuple[Answers, AnswerLines]:
    answers = Answers(time.time(), "GET", "/v1/targets/{name}/token", 200, "chat", "xsolla",
                      entries)  # fmt: skip
    return answers, AnswerLines(answers, 4242)


@pytest.mark.parametrize("entries", [ENTRIES[:3], ENTRIES], ids=["plain", "needs-escaping"])
def test_a_runs_lines_are_the_lines_of_its_records(
    binary_stream: io.BytesIO, entries: list[tuple[str, float, str | None]]
) -> None:
    _, lines = runs_and_records(entries)
    assert (lines.text() is None) == (entries is ENTRIES)  # escaping goes the events' way
    write_lines([lines])
    run = binary_stream.getvalue()
    binary_stream.seek(0)
    binary_stream.truncate()
    write_lines(lines.events())  # each record's own line, through the same writer
    one_by_one = parsed(binary_stream)
    in_a_run = [json.loads(line) for line in run.splitlines()]
    assert in_a_run == one_by_one
    assert [(ln["request_id"], ln["subject"]) for ln in in_a_run] == [
        (request_id, subject) for request_id, _, subject in entries
    ]
    assert [ln["duration_ms"] for ln in in_a_run] == [round(s * 1000, 3) for _, s, _ in entries]
    assert {ln["login"] for ln in in_a_run} == {"xsolla"}
    assert list(in_a_run[0]) == list(one_by_one[0])  # the same keys, in the same order


def test_a_run_with_a_jwt_shaped_subject_is_redacted(binary_stream: io.BytesIO) -> None:
    jwt_like = login_token()
    _, lines = runs_and_records([ENTRIES[0], ("4bcfc74005314e690000000000000009", 0.1, jwt_like)])
    assert lines.text() is not None  # nothing to escape, but the writer must still redact
    write_lines([lines])
    assert jwt_like.encode() not in binary_stream.getvalue()
    subjects = [line["subject"] for line in parsed(binary_stream)]
    assert subjects == [ENTRIES[0][2], "[redacted-jwt]"]


def test_a_run_counts_as_its_records_in_lines_metrics_and_the_batch_size(
    binary_stream: io.BytesIO,
) -> None:
    one_by_one, in_runs = Metrics(), Metrics()
    single = AccessRecords(one_by_one, log_requests=True, interval=60)
    batched = AccessRecords(in_runs, log_requests=True, interval=60)
    answers, _ = runs_and_records(ENTRIES[:3])
    for record in answers.records():
        single.add(record)
    batched.add_answers(answers)
    batched.add_answers(answers._replace(login=None, target=None, method="BREW", status=503))
    for record in answers._replace(login=None, target=None, method="BREW", status=503).records():
        single.add(record)
    assert binary_stream.getvalue() == b""  # 6 of BATCH_LIMIT: both wait
    single.flush()
    written = parsed(binary_stream)
    batched.flush()
    assert parsed(binary_stream) == written * 2
    assert [line["method"] for line in written] == ["GET"] * 3 + ["OTHER"] * 3
    assert counted(one_by_one) == counted(in_runs)
    assert b'bridge_tokens_minted_total{target="chat"} 3.0' in in_runs.exposition()
    # a run counts each of its requests towards the batch limit
    batched.add_answers(answers._replace(entries=[ENTRIES[0]] * (BATCH_LIMIT - 1)))
    assert parsed(binary_stream) == written * 2
    batched.add_answers(answers._replace(entries=[ENTRIES[1]]))
    assert len(binary_stream.getvalue().splitlines()) == 12 + BATCH_LIMIT
