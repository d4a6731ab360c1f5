"""A gateway with every optional route on, as a config dict and as a live ``bridge serve``.

Only ``bridge.settings.parse_settings`` and ``bridge.app.create_app`` (stable names) are used
from the package; the live gateway is the command line in a subprocess, on a free loopback
port. The secrets are throw-away test values.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "docs" / "openapi.yaml"

LOGIN_SECRET = "docs-test-login-secret-0123456789abcdef"
STAFF_KEY = "docs-test-staff-key-0123456789"
ORIGIN = "https://shop.example.com"
#: the target names of config.example.yaml, which the spec gives as examples
TARGETS = ("zendesk-chat", "zendesk-messaging", "freshdesk", "zipchat")
#: high enough that a test run is never refused; the limits themselves are tested elsewhere
UNLIMITED = {"per_minute": 1_000_000, "burst": 100_000}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _zipchat_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def gateway_config(
    *, port: int = 8001, zendesk_url: str = "http://127.0.0.1:9", **overrides: Any
) -> dict[str, Any]:
    """Every optional route on: demo, staff page, metrics on the public port, both lookups."""
    data: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": port, "drain_seconds": 0},
        "upstream": {"cookie": "token", "secrets": [{"value": LOGIN_SECRET}]},
        "targets": {
            "zendesk-chat": {
                "type": "zendesk_chat",
                "secret": {"value": "docs-test-chat-secret-0123456789abcdef"},
            },
            "zendesk-messaging": {
                "type": "zendesk_messaging",
                "key_id": "app_0123456789abcdef",
                "secret": {"value": "docs-test-messaging-secret-0123456789ab"},
            },
            "freshdesk": {
                "type": "freshdesk",
                "secret": {"value": "docs-test-freshdesk-secret-0123456789a"},
            },
            "zipchat": {"type": "zipchat", "private_key": {"value": _zipchat_pem()}},
            "help-center": {
                "type": "zendesk_sso",
                "base_url": "https://acme.zendesk.com",
                "secret": {"value": "docs-test-zendesk-sso-secret-0123456789"},
                "return_to_hosts": ["acme.zendesk.com", "help.acme.com"],
            },
        },
        "default_target": "zendesk-chat",
        "cors": {"origins": [ORIGIN]},
        "zendesk_chat_api": {
            "base_url": f"{zendesk_url}/api/v2/chat",
            "token": {"value": "docs-test-chat-api-token"},
            "deadline": 0.5,
            "max_retries": 0,
            "breaker_failures": 1000,
        },
        "zendesk_support_api": {
            "base_url": zendesk_url,
            "token": {"value": "docs-test-support-api-token"},
            "deadline": 0.5,
            "max_retries": 0,
            "breaker_failures": 1000,
        },
        # the login-user view's members: one keyed by external id, one by email
        "lookups": {
            "support": {
                "type": "zendesk_support",
                "base_url": zendesk_url,
                "token": {"value": "docs-test-support-api-token"},
                "deadline": 0.5,
                "max_retries": 0,
                "breaker_failures": 1000,
            },
            "hubspot": {
                "type": "hubspot_crm",
                "base_url": zendesk_url,
                "access_token": {"value": "docs-test-hubspot-token"},
                "deadline": 0.5,
                "max_retries": 0,
                "breaker_failures": 1000,
            },
        },
        "staff": {"api_keys": [{"value": STAFF_KEY}]},
        "demo": {"enabled": True, "i_understand_this_mints_login_cookies": True},
        "staff_page": {"enabled": True},
        "metrics": {"enabled": True, "port": None},
        "log": {"format": "json", "access": False},
        "rate_limits": {
            "per_address": UNLIMITED,
            "per_subject": UNLIMITED,
            "per_staff_key": UNLIMITED,
        },
    }
    data.update(overrides)
    return data


def login_token(*, sub: str = "docs-test-user", email: str | None = "ann@example.com") -> str:
    """A login token as the login system would issue it, signed with the config's HS secret."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + 3600, "name": "Ann Lee"}
    if email is not None:
        claims["email"] = email
    return jwt.encode(claims, LOGIN_SECRET, algorithm="HS256")


@contextlib.asynccontextmanager
async def live_gateway(tmp_path: Path, config: dict[str, Any]) -> AsyncIterator[str]:
    """``bridge serve`` on ``config``'s port; yields its base URL once ``/healthz`` answers."""
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{config['server']['port']}"
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    log = (tmp_path / "gateway.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge", "serve", "--config", str(path),
        cwd=ROOT, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        await _wait_until_up(url, process)
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


async def _wait_until_up(url: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            assert process.returncode is None, "the gateway exited at start-up (see gateway.log)"
            try:
                async with session.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("the gateway did not answer /healthz within 15 s")
