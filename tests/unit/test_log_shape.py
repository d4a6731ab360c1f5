"""Every log line in one JSON style, and what an unmatched request's access line says."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import orjson
import structlog

from bridge.access import flush_all
from tests.conftest import AppClient, logging_to
from tests.unit.test_log import access_lines


def written_lines(stream: io.TextIOWrapper | io.StringIO) -> list[str]:
    logging.getLogger("bridge").warning("a standard-library line: %s", "yes")
    structlog.get_logger("bridge").info("a structlog line", extra=1)
    flush_all()
    stream.flush()
    if isinstance(stream, io.TextIOWrapper):
        raw = stream.buffer
        assert isinstance(raw, io.BytesIO)
        return raw.getvalue().decode().splitlines()
    return stream.getvalue().splitlines()


def test_every_line_is_compact_json_on_text_and_byte_streams(tmp_path: Path) -> None:
    for stream in (io.StringIO(), io.TextIOWrapper(io.BytesIO(), encoding="utf-8")):
        with logging_to(stream):
            lines = written_lines(stream)
        assert len(lines) == 2
        for line in lines:
            assert line == orjson.dumps(json.loads(line)).decode()  # no ", " or ": " anywhere


async def test_an_unmatched_requests_access_line_names_its_path_without_the_query(
    client: AppClient, log_stream: io.StringIO
) -> None:
    response = await client.get("/wp-admin/setup.php?token=secret-value&x=<b>")
    assert response.status == 404
    long = await client.get("/a" * 200)
    assert long.status == 404
    flush_all()
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    found = [
        (line["route"], line["status"], line.get("path")) for line in access_lines(lambda: lines)
    ]
    assert found[0] == ("(unmatched)", 404, "/wp-admin/setup.php")
    route, _, path = found[1]
    assert route == "(unmatched)"
    assert path == "/a" * 60 + "..."
    assert "secret-value" not in log_stream.getvalue()


async def test_a_matched_requests_access_line_has_its_route_and_no_path(
    client: AppClient, log_stream: io.StringIO
) -> None:
    await client.get("/generate/token?x=1")
    flush_all()
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    [line] = access_lines(lambda: lines)
    assert line["route"] == "/generate/token"
    assert "path" not in line
