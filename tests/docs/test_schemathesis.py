"""Schemathesis against a live gateway: every answer must be one docs/openapi.yaml describes.

``bridge serve`` runs with every optional route on, in front of a fake Zendesk (both on free
loopback ports); schemathesis, in a subprocess, generates requests from the document with a
valid login cookie and staff key, and checks each answer's status, content type, headers and
body against it. A 5xx fails unless the document lists it: only the lookups' 502/503/504 are.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from tests.docs.document import documented_operations, spec
from tests.docs.fake_vendor import fake_zendesk
from tests.docs.gateway import (
    SPEC_PATH,
    STAFF_KEY,
    free_port,
    gateway_config,
    live_gateway,
    login_token,
)

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
#: per operation in fuzzing; with the coverage phase about a thousand requests in all
MAX_EXAMPLES = 25
SEED = 20261201
#: the secrets reach schemathesis through the environment, never its command line or a file
CONFIG = """\
[auth.openapi.loginCookie]
api_key = "${BRIDGE_DOCS_LOGIN_TOKEN}"

[auth.openapi.staffKey]
bearer = "${BRIDGE_DOCS_STAFF_KEY}"

[[operations]]
include-path-regex = "^/v1/(visitors|login-users)/"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "502", "503", "504"]
"""
#: answers the run must have seen at least once, so that their schemas were checked
REACHED = (
    ("GET", "/generate/token", 200),
    ("POST", "/v1/targets/{name}/token", 200),
    ("GET", "/v1/targets/{name}/token", 404),
    ("OPTIONS", "/generate/token", 200),
    ("GET", "/v1/visitors/{visitor_id}", 200),
    ("GET", "/v1/visitors/{visitor_id}", 400),
    ("GET", "/v1/visitors/{visitor_id}", 404),
    ("GET", "/v1/visitors/{visitor_id}", 502),
    ("GET", "/v1/login-users/{login_user_id}/zendesk", 200),
    ("GET", "/v1/login-users/{login_user_id}", 200),
    ("GET", "/v1/login-users/{login_user_id}/{name}", 404),
    ("GET", "/static/{name}", 200),
    ("GET", "/static/{name}", 404),
    ("POST", "/demo/login", 200),
    ("POST", "/demo/login", 400),
    ("GET", "/readyz", 200),
    ("GET", "/v1/sso/{name}", 200),
    ("GET", "/v1/sso/{name}", 400),
    ("GET", "/v1/sso/{name}/logout", 302),
)
JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")


def _redacted(text: str) -> str:
    return JWT.sub("[jwt]", text.replace(STAFF_KEY, "[staff key]"))


async def _run_schemathesis(
    tmp_path: Path, url: str
) -> tuple[int, str, Counter[tuple[str, str, int]]]:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    report = tmp_path / "report.har"
    env = {
        **os.environ,
        "BRIDGE_DOCS_LOGIN_TOKEN": login_token(),
        "BRIDGE_DOCS_STAFF_KEY": STAFF_KEY,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color",
        "run", str(SPEC_PATH), "--url", url, "--checks", ",".join(CHECKS),
        "--phases", "examples,coverage,fuzzing", "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(SEED), "--workers", "1", "--generation-database", "none",
        "--request-timeout", "5", "--report", "har", "--report-har-path", str(report),
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode is not None
    return process.returncode, _redacted(output.decode(errors="replace")), _answers(report)


def _failures_and_summary(output: str) -> str:
    """The end of schemathesis's output: its failures, if any, and its summary."""
    for heading in ("= FAILURES =", "= SUMMARY ="):
        at = output.find(heading)
        if at >= 0:
            return output[at:]
    return output


def _answers(report: Path) -> Counter[tuple[str, str, int]]:
    """How often the run saw each (method, documented path, status), from its HAR report."""
    templates = {
        path: re.compile("^" + re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(path)) + "$")
        for path in spec()["paths"]
    }
    seen: Counter[tuple[str, str, int]] = Counter()
    for entry in json.loads(report.read_text(encoding="utf-8"))["log"]["entries"]:
        path = urlsplit(entry["request"]["url"]).path
        documented = next((t for t, pattern in templates.items() if pattern.match(path)), path)
        seen[entry["request"]["method"], documented, entry["response"]["status"]] += 1
    return seen


async def test_every_answer_of_a_live_gateway_is_documented(tmp_path: Path) -> None:
    async with fake_zendesk() as zendesk_url:
        config = gateway_config(port=free_port(), zendesk_url=zendesk_url)
        async with live_gateway(tmp_path, config) as url:
            returncode, output, answers = await _run_schemathesis(tmp_path, url)
    summary = _failures_and_summary(output)
    print(summary)  # shown with pytest -s: the run's own account of what it tried
    assert returncode == 0, summary
    tested = {(path, method) for method, path, _ in answers}
    assert sorted(documented_operations() - tested) == [], summary
    # the run got past the refusals: tokens minted, lookups answered, the demo signed in
    for wanted in REACHED:
        assert answers[wanted] > 0, (wanted, sorted(answers.items()))
