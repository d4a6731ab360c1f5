"""Family ``http``: requests that bend or break HTTP/1.1 itself, sent as raw bytes on a socket.

Most carry the victim's valid login cookie, so "no token" is a real check: request smuggling
with both ``Content-Length`` and ``Transfer-Encoding`` or two lengths (RFC 9112 §6.1, §11.2),
obsolete line folding, bare CR or LF line ends, NUL and spaces where the grammar forbids them,
bad versions, TLS or HTTP/2 bytes on the plain port, oversized lines and header counts, paths
that only look like a token route (encoded slashes, dot segments, NUL, overlong UTF-8), and
methods that are not GET or POST.

Requests aiohttp cannot parse never reach the application; ``bridge.http.parse_errors`` makes those
answers JSON without the quoted bytes aiohttp would send back (the ``Cookie`` line, with the
token in it). Every answer here is a 4xx with its JSON code, never a 5xx, and never contains a
token or any part of the request's cookie.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest

from tests.conftest import AppClient, login_token

FAMILY = "http"
TOKEN = login_token()
COOKIE = f"Cookie: token={TOKEN}\r\n"
STAFF = "Authorization: Bearer not-a-staff-key-000000\r\n"


@dataclass(frozen=True)
class RawCase:
    id: str
    request: str  # latin-1 text of the raw request; "{C}" is the valid login cookie line
    status: int
    code: str

    def bytes(self) -> bytes:
        return self.request.replace("{C}", COOKIE).encode("latin-1")


def get(target: str, extra: str = "", method: str = "GET", version: str = "HTTP/1.1") -> str:
    return f"{method} {target} {version}\r\nHost: bridge.test\r\n{{C}}{extra}\r\n"


def post(extra: str, body: str = "") -> str:
    return f"POST /generate/token HTTP/1.1\r\nHost: bridge.test\r\n{{C}}{extra}\r\n{body}"


BAD = (400, "bad_request")
NOT_FOUND = (404, "not_found")
NO_TARGET = (404, "target_not_found")
NOT_ALLOWED = (405, "method_not_allowed")
NO_VERSION = (505, "http_version_not_supported")
TOO_LARGE = (413, "payload_too_large")
#: over the test app's server.max_body_bytes (the default, 64 KiB)
BIG = 70_000


def chunked(size: int, chunk: int = 4096) -> str:
    """A chunked body of ``size`` bytes."""
    parts = [
        f"{min(chunk, size - at):x}\r\n{'a' * min(chunk, size - at)}\r\n"
        for at in range(0, size, chunk)
    ]
    return "".join(parts) + "0\r\n\r\n"


CASES = [
    # ---- smuggling and framing (RFC 9112 §6.1, §6.3, §11.2)
    RawCase(
        "http-cl-and-te",
        post("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"),
        *BAD,
    ),
    RawCase("http-two-content-lengths", post("Content-Length: 0\r\nContent-Length: 5\r\n"), *BAD),
    RawCase("http-te-unknown", post("Transfer-Encoding: xchunked\r\n"), *BAD),
    RawCase("http-te-gzip-only", post("Transfer-Encoding: gzip\r\n"), *BAD),
    RawCase(
        "http-te-chunked-twice",
        post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"),
        *BAD,
    ),
    RawCase(
        "http-te-space-before-colon", post("Transfer-Encoding : chunked\r\n", "0\r\n\r\n"), *BAD
    ),
    RawCase("http-content-length-negative", post("Content-Length: -1\r\n"), *BAD),
    RawCase(
        "http-content-length-overflow", post("Content-Length: 99999999999999999999999\r\n"), *BAD
    ),
    # ---- bodies over server.max_body_bytes, on routes that never read a body
    RawCase(
        "http-body-over-limit-token",
        post(f"Content-Length: {BIG}\r\nContent-Type: text/plain\r\n", "a" * BIG),
        *TOO_LARGE,
    ),
    RawCase(
        "http-body-over-limit-unsent",
        post(f"Content-Length: {BIG}\r\nContent-Type: text/plain\r\n"),
        *TOO_LARGE,
    ),
    RawCase(
        "http-body-over-limit-chunked",
        post("Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n", chunked(BIG)),
        *TOO_LARGE,
    ),
    RawCase(
        "http-body-over-limit-on-get-healthz",
        get("/healthz", f"Content-Length: {BIG}\r\n") + "a" * BIG,
        *TOO_LARGE,
    ),
    RawCase(
        "http-body-over-limit-unknown-path",
        get("/nowhere", f"Content-Length: {BIG}\r\n", method="POST") + "a" * BIG,
        *TOO_LARGE,
    ),
    # ---- header syntax
    RawCase("http-obs-fold", get("/generate/token", "X-A: a\r\n b\r\n"), *BAD),
    RawCase("http-nul-in-header", get("/generate/token", "X-A: a\x00b\r\n"), *BAD),
    RawCase(
        "http-nul-in-cookie",
        f"GET /generate/token HTTP/1.1\r\nHost: b\r\nCookie: token={TOKEN}\x00\r\n\r\n",
        *BAD,
    ),
    RawCase(
        "http-space-before-colon-cookie",
        f"GET /generate/token HTTP/1.1\r\nHost: b\r\nCookie : token={TOKEN}\r\n\r\n",
        *BAD,
    ),
    RawCase("http-space-in-header-name", get("/generate/token", "X A: b\r\n"), *BAD),
    RawCase("http-bare-lf", get("/generate/token").replace("\r\n", "\n"), *BAD),
    RawCase("http-bare-cr", get("/generate/token").replace("\r\n", "\r"), *BAD),
    RawCase("http-no-host", "GET /generate/token HTTP/1.1\r\n{C}\r\n", *BAD),
    RawCase("http-two-hosts", get("/generate/token", "Host: evil.example\r\n"), *BAD),
    RawCase(
        "http-300-headers",
        get("/generate/token", "".join(f"X-H{i}: v\r\n" for i in range(300))),
        *BAD,
    ),
    RawCase("http-100kb-target", get("/generate/token?" + "a" * 100_000), *BAD),
    RawCase("http-10kb-method", get("/generate/token", method="A" * 10_000), *BAD),
    # ---- request line and protocol
    RawCase("http-version-1.2", get("/generate/token", version="HTTP/1.2"), *BAD),
    RawCase("http-version-0.9", get("/generate/token", version="HTTP/0.9"), *BAD),
    RawCase("http-version-2.0", get("/generate/token", version="HTTP/2.0"), *NO_VERSION),
    RawCase("http-version-2.0-healthz", get("/healthz", version="HTTP/2.0"), *NO_VERSION),
    RawCase(
        "http-no-version",
        "GET /generate/token\r\nHost: bridge.test\r\n{C}\r\n",
        *BAD,
    ),
    RawCase("http-no-version-no-headers", "GET /healthz\r\n\r\n", *BAD),
    RawCase("http-version-3.0", get("/generate/token", version="HTTP/3.0"), *BAD),
    RawCase("http-lowercase-method", get("/generate/token", method="get"), *BAD),
    RawCase(
        "http-tls-client-hello",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + "A" * 40 + "\r\n\r\n",
        *BAD,
    ),
    RawCase("http-h2-prior-knowledge", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", *BAD),
    RawCase("http-raw-non-ascii-path", get("/v1/targets/ch\xe4t/token"), *BAD),
    # ---- paths that only look like a token route
    RawCase("http-double-slash", get("//generate/token"), *NOT_FOUND),
    RawCase("http-trailing-slash", get("/generate/token/"), *NOT_FOUND),
    RawCase("http-encoded-slash", get("/generate%2Ftoken"), *NOT_FOUND),
    RawCase("http-dot-segments", get("/v1/targets/../../generate/token"), *NOT_FOUND),
    RawCase("http-asterisk-form", get("*", method="OPTIONS"), *NOT_FOUND),
    RawCase(
        "http-connect-authority-form", get("shop.example.com:443", method="CONNECT"), *NOT_FOUND
    ),
    RawCase(
        "http-target-encoded-traversal", get("/v1/targets/..%2F..%2Fgenerate/token"), *NO_TARGET
    ),
    RawCase("http-target-nul", get("/v1/targets/chat%00/token"), *NO_TARGET),
    RawCase("http-target-overlong-utf8-dots", get("/v1/targets/%C0%AE%C0%AE/token"), *NO_TARGET),
    RawCase("http-target-bad-percent", get("/v1/targets/%zz/token"), *NO_TARGET),
    RawCase("http-target-case", get("/v1/targets/CHAT/token"), *NO_TARGET),
    RawCase(
        "http-visitor-traversal-without-key",
        get("/v1/visitors/..%2F..%2Fadmin", STAFF),
        401,
        "staff_unauthorized",
    ),
    # ---- methods
    RawCase(
        "http-method-put",
        get("/generate/token", "Content-Length: 0\r\n", method="PUT"),
        *NOT_ALLOWED,
    ),
    RawCase("http-method-delete", get("/generate/token", method="DELETE"), *NOT_ALLOWED),
    RawCase("http-method-trace", get("/generate/token", method="TRACE"), *NOT_ALLOWED),
    RawCase(
        "http-method-patch",
        get("/v1/targets/chat/token", "Content-Length: 0\r\n", method="PATCH"),
        *NOT_ALLOWED,
    ),
]
IDS = [case.id for case in CASES]


async def exchange(client: AppClient, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw``, read one response (status, lower-cased headers, body)."""
    assert client.server.host is not None
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(raw)
        await writer.drain()
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines:
                name, sep, value = line.partition(":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
    finally:
        writer.close()
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_malformed_http_is_a_coded_4xx_without_echo(client: AppClient, case: RawCase) -> None:
    status, headers, body = await exchange(client, case.bytes())
    assert status == case.status
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body) == {"code": case.code, "description": json.loads(body)["description"]}
    assert b"eyJ" not in body  # neither the cookie's token nor a minted one
    assert TOKEN.split(".")[2].encode() not in body
    assert headers.get("cache-control") == "no-store"


@pytest.mark.parametrize(
    "body",
    [
        f"Content-Length: {BIG - 10_000}\r\n\r\n{'a' * (BIG - 10_000)}",
        "Transfer-Encoding: chunked\r\n\r\n" + chunked(BIG - 10_000),
    ],
    ids=["content-length", "chunked"],
)
async def test_a_body_within_the_limit_is_no_413(client: AppClient, body: str) -> None:
    head = f"POST /generate/token HTTP/1.1\r\nHost: bridge.test\r\n{COOKIE}"
    raw = f"{head}Content-Type: text/plain\r\n{body}"
    status, _, answer = await exchange(client, raw.encode())
    assert status == 200
    assert "token" in json.loads(answer)


async def test_http_1_0_is_still_answered(client: AppClient) -> None:
    raw = get("/generate/token", version="HTTP/1.0").replace("{C}", COOKIE).encode()
    status, _, body = await exchange(client, raw)
    assert status == 200
    assert "token" in json.loads(body)


async def test_a_well_formed_raw_request_gets_its_token(client: AppClient) -> None:
    """The same socket helper and cookie line work, so each case fails for its defect."""
    status, _, body = await exchange(client, get("/generate/token").replace("{C}", COOKIE).encode())
    assert status == 200
    assert "token" in json.loads(body)


@pytest.mark.parametrize("version", ["HTTP/2.0", "HTTP/0.9", ""])
async def test_a_refused_http_version_closes_the_connection(
    client: AppClient, version: str
) -> None:
    assert client.server.host is not None
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(f"GET /healthz {version}".rstrip().encode() + b"\r\nHost: b\r\n\r\n")
        async with asyncio.timeout(10):
            answer = await reader.read()  # to the end: the server closes the connection
    finally:
        writer.close()
    assert answer.split(b"\r\n", 1)[0].split()[1] in {b"400", b"505"}
    assert answer.endswith(b"}")  # one answer, then the end of the stream
