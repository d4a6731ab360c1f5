"""Shared fixtures: a full four-target configuration, login tokens, and a client for the app."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from functools import cache
from typing import Any, TextIO

import jwt
import pytest
import structlog
from aiohttp.test_utils import TestClient
from aiohttp.web import Application, AppRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bridge.access import flush_all
from bridge.app import create_app, install_fast_path
from bridge.log import configure_logging
from bridge.settings.loading import parse_settings
from bridge.settings.root import Settings
from tests.support.ways import WAYS, pre_verifying

pytest_plugins = [
    "tests.support.redis_server",
    "tests.support.fake_zendesk",
    "tests.support.fake_hubspot",
    "tests.support.fake_help_center",
    "tests.support.fake_tools",
    "tests.support.redis_topology",
]

LOGIN_SECRET = "test-login-secret-0123456789abcdef0123"
OLD_LOGIN_SECRET = "test-old-login-secret-0123456789abcdef"
CHAT_SECRET = "test-zendesk-chat-secret-0123456789abcd"
MESSAGING_SECRET = "test-zendesk-messaging-secret-012345678"
MESSAGING_KEY_ID = "app_64f0c0ffee"
FRESHDESK_SECRET = "test-freshdesk-secret-0123456789abcdef0"
ORIGIN = "https://shop.example.com"
SUB = "82cd5e0c-c3ff-11e9-b199-c1e5fc81c37f"
EMAIL = "player@example.com"

AppClient = TestClient[Any, Application]
ClientFactory = Callable[..., Awaitable[AppClient]]


@cache
def zipchat_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def zipchat_pem() -> str:
    return (
        zipchat_private_key()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def config(**overrides: Any) -> dict[str, Any]:
    """A valid configuration dict with all four target types; top-level keys replaced."""
    data: dict[str, Any] = {
        "upstream": {
            "cookie": "token",
            "algorithms": ["HS256"],
            "secrets": [{"value": LOGIN_SECRET}, {"value": OLD_LOGIN_SECRET}],
        },
        "targets": {
            "chat": {"type": "zendesk_chat", "secret": {"value": CHAT_SECRET}},
            "messaging": {
                "type": "zendesk_messaging",
                "key_id": MESSAGING_KEY_ID,
                "secret": {"value": MESSAGING_SECRET},
            },
            "freshdesk": {"type": "freshdesk", "secret": {"value": FRESHDESK_SECRET}},
            "zipchat": {
                "type": "zipchat",
                "private_key": {"value": zipchat_pem()},
                "additional_attributes": ["username", "publisher_id"],
            },
        },
        "default_target": "chat",
        "cors": {"origins": [ORIGIN]},
    }
    data = copy.deepcopy(data)
    data.update(overrides)
    return data


def settings(**overrides: Any) -> Settings:
    return parse_settings(config(**overrides), environ={})


def login_token(
    secret: str = LOGIN_SECRET, *, ttl: int = 3600, now: float | None = None, **claims: Any
) -> str:
    """A login token like Xsolla Login's; ``claim=None`` removes a claim."""
    issued = int(time.time() if now is None else now)
    payload: dict[str, Any] = {
        "sub": SUB,
        "email": EMAIL,
        "iat": issued,
        "exp": issued + ttl,
        "iss": "https://login.xsolla.com",
        "groups": [{"id": 1, "name": "default", "is_default": True}],
        "xsolla_login_project_id": "00000000-0000-0000-0000-000000000000",
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, secret, algorithm="HS256")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_ways: run as a first request and as a repeat")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The token suites (tests/adversarial, and modules marked ``both_ways``) run both ways."""
    marked = metafunc.definition.get_closest_marker("both_ways") is not None
    if "way" in metafunc.fixturenames and (marked or "adversarial" in metafunc.module.__name__):
        metafunc.parametrize("way", WAYS, indirect=True)


@pytest.fixture
def way(request: pytest.FixtureRequest) -> str:
    """How the token requests of a test reach the gateway: ``app``, as a first request, or
    ``fast``, each login token verified beforehand (:mod:`tests.support.ways`)."""
    return str(getattr(request, "param", "app"))


@pytest.fixture
def make_client(aiohttp_client: Any, way: str) -> ClientFactory:
    """``await make_client(settings=None, fast_path=True, **create_app_kwargs)``: a test client
    for the app, served as ``bridge serve`` serves it: with the token routes' fast path in front
    (``fast_path=False``: the application alone)."""

    async def factory(
        app_settings: Settings | None = None, *, fast_path: bool = True, **kwargs: Any
    ) -> AppClient:
        app = create_app(app_settings or settings(), **kwargs)
        traces = [pre_verifying(app)] if fast_path and way == "fast" else []
        client: AppClient = await aiohttp_client(app, trace_configs=traces)
        if fast_path:
            runner = client.server.runner
            assert isinstance(runner, AppRunner)
            install_fast_path(runner)
        return client

    return factory


@pytest.fixture
async def client(make_client: ClientFactory) -> AppClient:
    return await make_client()


Lines = Callable[[], list[dict[str, Any]]]


@contextlib.contextmanager
def logging_to(stream: TextIO) -> Iterator[None]:
    """Logging configured as ``bridge serve`` does (JSON lines) onto ``stream``, then undone."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("json", "info", stream=stream)
    try:
        yield
    finally:
        structlog.reset_defaults()
        root.handlers[:], root.level = saved


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Logging configured as ``bridge serve`` does (JSON lines), onto a text stream."""
    stream = io.StringIO()
    with logging_to(stream):
        yield stream


@pytest.fixture
def log_lines(log_stream: io.StringIO) -> Lines:
    """Every line written so far, parsed; batched lines (bridge.access) are flushed first."""

    def read() -> list[dict[str, Any]]:
        flush_all()
        return [json.loads(line) for line in log_stream.getvalue().splitlines()]

    return read


@pytest.fixture
def audit_lines(log_lines: Lines) -> Lines:
    """The ``bridge.audit`` lines written so far."""
    return lambda: [line for line in log_lines() if line.get("logger") == "bridge.audit"]
