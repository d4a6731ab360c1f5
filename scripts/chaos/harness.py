"""The parts every chaos and soak run is made of: real processes, a fake Zendesk, bounded load.

* :class:`Gateway`: ``python -m bridge serve`` as a child process on a free loopback port, with
  a generated configuration (HS login secret, Zendesk Chat and Messaging targets, a staff key,
  Redis, the fake Zendesk, rate limits high enough never to refuse this load but still
  checked on every request); its log goes to a file that is scanned at the end.
* A real ``redis-server`` (``tests.support.redis_server.RedisServer``: loopback, no persistence).
* :class:`FakeZendesk`: the Chat API on a loopback port, in this process, whose ``mode`` a
  scenario switches between ``ok``, ``fail`` (500s) and ``hang`` (no answer).
* :class:`Load`: a fixed number of concurrent clients sending a weighted mix of requests to
  127.0.0.1 only, until a deadline or a request cap; every answer is checked against what its
  kind must get, and every failure is classified.

Nothing here listens on or sends to anything but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import psutil
import yaml
from aiohttp import web

from bridge.dev.fake import Reply
from bridge.dev.zendesk import FakeZendesk as DevZendesk
from tests.support.redis_server import RedisServer, free_port

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
LOGIN_SECRET = "chaos-login-secret-0123456789abcdef0123"
STAFF_KEY = "chaos-staff-key-0123456789abcdef"
ZENDESK_TOKEN = "chaos-zendesk-token-0123456789"
SEEDED_VISITOR = "9855790.chaosseed"
MiB = 1024 * 1024


def login_token(
    sub: str, *, email: str | None = "player@example.com", secret: str = LOGIN_SECRET
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + 24 * 3600}
    if email:
        claims["email"] = email
    return jwt.encode(claims, secret, algorithm="HS256")


# --------------------------------------------------------------------------- fake Zendesk


class _EveryVisitor(dict[str, dict[str, Any]]):
    """Every visitor id exists: each is made up the first time it is asked for."""

    def __missing__(self, visitor_id: str) -> dict[str, Any]:
        return {
            "id": visitor_id,
            "name": "Chaos Visitor",
            "email": "visitor@example.com",
            "phone": None,
            "notes": "",
            "banned": False,
            "created": 1700000000,
            "external_id": "chaos-user",
        }


#: what each mode answers instead of Zendesk's own answer (``ok``: nothing instead)
MODES = {"ok": None, "fail": Reply(500, json={"error": "internal"}), "hang": Reply(hang=True)}


class FakeZendesk:
    """:class:`bridge.dev.zendesk.FakeZendesk` in this process, every visitor id known, in the
    ``mode`` a scenario sets: ``ok``, ``fail`` (500s) or ``hang`` (no answer until the mode
    changes)."""

    def __init__(self) -> None:
        self.fake = DevZendesk(chat_token=ZENDESK_TOKEN, visitors=_EveryVisitor())
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def calls(self) -> int:
        return self.fake.calls

    def set_mode(self, mode: str) -> None:
        self.fake.standing = MODES[mode]
        if mode != "hang":
            self.fake.release()

    async def start(self) -> None:
        self._runner = web.AppRunner(self.fake.app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, LOOPBACK, self.port).start()

    async def stop(self) -> None:
        self.set_mode("ok")
        if self._runner is not None:
            await self._runner.cleanup()


# --------------------------------------------------------------------------- gateway


def gateway_config(*, redis_url: str | None, zendesk_port: int) -> dict[str, Any]:
    huge = {"per_minute": 1_000_000, "burst": 100_000}
    return {
        "server": {"host": LOOPBACK, "port": 0, "drain_seconds": 2},
        "upstream": {
            "cookie": "token",
            "algorithms": ["HS256"],
            "secrets": [{"value": LOGIN_SECRET}],
        },
        "targets": {
            "chat": {
                "type": "zendesk_chat",
                "secret": {"value": "chaos-chat-secret-0123456789abcdef0"},
            },
            "messaging": {
                "type": "zendesk_messaging",
                "key_id": "app_chaos",
                "secret": {"value": "chaos-messaging-secret-0123456789ab"},
            },
        },
        "default_target": "chat",
        "cors": {"origins": ["https://shop.example.com"]},
        "redis": {"url": redis_url, "breaker_cooldown": 1},
        "zendesk_chat_api": {
            "base_url": f"http://{LOOPBACK}:{zendesk_port}/api/v2/chat",
            "token": {"value": ZENDESK_TOKEN},
            "deadline": 2,
            "max_retries": 1,
            "breaker_cooldown": 2,
        },
        "staff": {"api_keys": [{"value": STAFF_KEY}]},
        "cache": {"visitor_ttl": 600, "negative_ttl": 30},
        "rate_limits": {
            "per_address": huge,
            "per_subject": huge,
            "per_staff_key": huge,
        },
    }


class Gateway:
    """``python -m bridge serve`` in a child process; its log in ``directory/gateway.log``."""

    def __init__(self, directory: Path, config: dict[str, Any], *, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.config_path = directory / "bridge.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = directory / "gateway.log"
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        args = [sys.executable, "-m", "bridge", "serve", "--config", str(self.config_path)]
        args += ["--host", LOOPBACK, "--port", str(self.port), "--workers", str(self.workers)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)

    async def wait_ready(self, seconds: float = 30.0) -> None:
        give_up = time.monotonic() + seconds
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < give_up:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"the gateway exited with {self.process.returncode}; see {self.log_path}"
                    )
                try:
                    async with session.get(self.url + "/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("the gateway did not become healthy")

    def rss(self) -> int:
        """Resident memory of the gateway and its workers, in bytes."""
        if self.process is None or self.process.poll() is not None:
            return 0
        try:
            parent = psutil.Process(self.process.pid)
            return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)])
        except psutil.Error:
            return 0

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    async def wait_exit(self, seconds: float) -> int | None:
        give_up = time.monotonic() + seconds
        while self.process is not None and self.process.poll() is None:
            if time.monotonic() > give_up:
                return None
            await asyncio.sleep(0.05)
        self.exit_code = None if self.process is None else self.process.returncode
        return self.exit_code

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after ten seconds: never leave a gateway behind."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.exit_code = self.process.returncode

    def log_findings(self) -> Counter[str]:
        """Log lines that matter: tracebacks, errors, and Redis failing open."""
        found: Counter[str] = Counter()
        if not self.log_path.exists():
            return found
        for line in self.log_path.read_text(errors="replace").splitlines():
            if "Traceback" in line:
                found["tracebacks"] += 1
            if " ERROR bridge" in line:
                found["bridge errors"] += 1
            if "WARNING bridge.redis" in line:
                found["redis failing open (warnings)"] += 1
            if "circuit breaker open" in line:
                found["zendesk breaker opened"] += 1
        return found


# --------------------------------------------------------------------------- load


@dataclass(frozen=True)
class Kind:
    """One kind of request: how to make it and which answers are right for it."""

    name: str
    weight: int
    make: Callable[[int], tuple[str, str, dict[str, str]]]  # n -> (method, path, headers)
    expected: frozenset[int]
    #: 5xx answers that docs/api.md documents for this kind (Zendesk trouble on lookups)
    documented_5xx: frozenset[int] = frozenset()


def standard_kinds() -> list[Kind]:
    valid = login_token("chaos-user")
    forged = login_token("chaos-user", secret="an-attacker-secret-0123456789abcdef012345")
    no_email = login_token("chaos-user-2", email=None)
    hostile = [
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.",
        valid.rsplit(".", 1)[0] + ".AAAA",
        valid + "=",
        "x" * 5000,
        "%00" + valid,
    ]
    staff = {"Authorization": f"Bearer {STAFF_KEY}"}
    vendor_trouble = frozenset({502, 503, 504})
    return [
        Kind(
            "token",
            30,
            lambda n: ("GET", "/generate/token", {"Cookie": f"token={valid}"}),
            frozenset({200}),
        ),
        Kind(
            "token-messaging",
            10,
            lambda n: ("POST", "/v1/targets/messaging/token", {"Cookie": f"token={valid}"}),
            frozenset({200}),
        ),
        Kind(
            "token-no-email",
            5,
            lambda n: ("GET", "/generate/token", {"Cookie": f"token={no_email}"}),
            frozenset({422}),
        ),
        Kind(
            "token-forged",
            10,
            lambda n: ("GET", "/generate/token", {"Cookie": f"token={forged}"}),
            frozenset({401}),
        ),
        Kind(
            "token-hostile",
            5,
            lambda n: (
                "GET",
                "/v1/targets/chat/token",
                {"Cookie": f"token={hostile[n % len(hostile)]}"},
            ),
            frozenset({401}),
        ),
        Kind("token-missing", 5, lambda n: ("GET", "/generate/token", {}), frozenset({401})),
        Kind(
            "lookup-cached",
            10,
            lambda n: ("GET", f"/v1/visitors/{SEEDED_VISITOR}", staff),
            frozenset({200}),
            vendor_trouble,
        ),
        Kind(
            "lookup-new",
            5,
            lambda n: ("GET", f"/v1/visitors/9855790.c{os.getpid()}x{n}", staff),
            frozenset({200}),
            vendor_trouble,
        ),
        Kind(
            "lookup-no-key",
            3,
            lambda n: ("GET", f"/v1/visitors/{SEEDED_VISITOR}", {}),
            frozenset({401}),
        ),
        Kind("healthz", 2, lambda n: ("GET", "/healthz", {}), frozenset({200})),
    ]


LOST = {"disconnected", "reset", "timeout", "incomplete"}


@dataclass
class Stats:
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    server_errors: int = 0
    documented_server_errors: int = 0
    latencies: list[float] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return sum(count for kind, count in self.errors.items() if kind.split(":")[0] in LOST)


class Load:
    """``concurrency`` clients sending ``kinds`` by weight to ``base_url`` until told to stop."""

    def __init__(
        self,
        base_url: str,
        kinds: list[Kind],
        *,
        concurrency: int = 16,
        max_requests: int = 2_000_000,
        request_timeout: float = 15.0,
        seed: int = 6,
    ) -> None:
        assert base_url.startswith(f"http://{LOOPBACK}:"), "load goes to the loopback only"
        self.base_url = base_url
        self.kinds = kinds
        self.concurrency = concurrency
        self.max_requests = max_requests
        self.timeout = aiohttp.ClientTimeout(total=request_timeout)
        self.stats = Stats()
        self.stopping = asyncio.Event()
        #: set by a scenario once refused connections are expected (after a SIGTERM)
        self.refusals_expected = False
        self._random = random.Random(seed)
        self._counter = itertools.count()

    def _pick(self) -> Kind:
        return self._random.choices(self.kinds, weights=[k.weight for k in self.kinds])[0]

    async def _one(self, session: aiohttp.ClientSession) -> None:
        kind = self._pick()
        n = next(self._counter)
        method, path, headers = kind.make(n)
        self.stats.sent += 1
        started = time.perf_counter()
        try:
            async with session.request(method, self.base_url + path, headers=headers) as response:
                await response.read()
                status = response.status
        except aiohttp.ClientConnectorError:
            self.stats.errors["refused after stop" if self.refusals_expected else "refused"] += 1
            await asyncio.sleep(0.05)  # nobody is listening: do not spin
            return
        except aiohttp.ServerDisconnectedError:
            self.stats.errors[f"disconnected:{kind.name}"] += 1
            return
        except aiohttp.ClientPayloadError:
            self.stats.errors[f"incomplete:{kind.name}"] += 1
            return
        except aiohttp.ClientOSError:
            self.stats.errors[f"reset:{kind.name}"] += 1
            return
        except TimeoutError:
            self.stats.errors[f"timeout:{kind.name}"] += 1
            return
        self.stats.latencies.append(time.perf_counter() - started)
        self.stats.statuses[status] += 1
        if status >= 500:
            self.stats.server_errors += 1
            if status in kind.documented_5xx:
                self.stats.documented_server_errors += 1
                self.stats.errors[f"documented {status}:{kind.name}"] += 1
                return
        if status not in kind.expected:
            self.stats.errors[f"wrong answer {status}:{kind.name}"] += 1

    async def _client(self, session: aiohttp.ClientSession) -> None:
        while not self.stopping.is_set() and self.stats.sent < self.max_requests:
            await self._one(session)

    async def run(self, duration: float) -> None:
        """Send until ``duration`` seconds have passed or :meth:`stop`, whichever is first."""
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        async with aiohttp.ClientSession(connector=connector, timeout=self.timeout) as session:
            clients = [asyncio.create_task(self._client(session)) for _ in range(self.concurrency)]
            try:
                await asyncio.wait_for(self.stopping.wait(), timeout=duration)
            except TimeoutError:
                self.stopping.set()
            await asyncio.gather(*clients)

    def stop(self) -> None:
        self.stopping.set()


# --------------------------------------------------------------------------- a run


@dataclass
class Run:
    """What a scenario reports, and whether it passed."""

    name: str
    duration: float = 0.0
    stats: Stats = field(default_factory=Stats)
    rss_start: int = 0
    rss_end: int = 0
    events: list[str] = field(default_factory=list)
    log: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def check(self) -> None:
        stats = self.stats
        undocumented = stats.server_errors - stats.documented_server_errors
        if undocumented:
            self.problems.append(f"{undocumented} undocumented 5xx")
        if stats.lost:
            self.problems.append(f"{stats.lost} lost requests")
        wrong = sum(c for k, c in stats.errors.items() if k.startswith("wrong answer"))
        if wrong:
            self.problems.append(f"{wrong} wrong answers")
        if stats.errors["refused"]:
            self.problems.append(f"{stats.errors['refused']} refused connections")
        if self.log["tracebacks"] or self.log["bridge errors"]:
            self.problems.append("errors in the gateway log")
        if stats.sent == 0:
            self.problems.append("no request was sent")

    def report(self) -> str:
        stats = self.stats
        latencies = sorted(stats.latencies)

        def pct(p: float) -> str:
            if not latencies:
                return "-"
            return f"{latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000:.1f} ms"

        statuses = ", ".join(f"{s}: {c}" for s, c in sorted(stats.statuses.items()))
        errors = ", ".join(f"{k}: {c}" for k, c in sorted(stats.errors.items())) or "none"
        log = ", ".join(f"{k}: {c}" for k, c in sorted(self.log.items())) or "nothing notable"
        lines = [
            f"== {self.name}: {self.duration:.1f} s",
            f"  requests sent      {stats.sent} ({stats.sent / max(self.duration, 1e-9):.0f}/s)",
            f"  answers            {statuses}",
            f"  errors by kind     {errors}",
            f"  5xx                {stats.server_errors} "
            f"(documented Zendesk-trouble answers on lookups: {stats.documented_server_errors})",
            f"  lost requests      {stats.lost}",
            f"  latency            p50 {pct(0.5)}, p99 {pct(0.99)}, max {pct(1.0)}",
            f"  gateway RSS        start {self.rss_start / MiB:.1f} MiB, end {self.rss_end / MiB:.1f} MiB",  # noqa: E501
            f"  gateway log        {log}",
        ]
        lines += [f"  event              {event}" for event in self.events]
        verdict = "PASS" if not self.problems else "FAIL: " + "; ".join(self.problems)
        lines.append(f"  result             {verdict}")
        return "\n".join(lines)


class Stage:
    """A temporary directory holding the configuration and the logs of one run.

    ``BRIDGE_CHAOS_KEEP=1`` keeps it (its path is printed) to read the gateway's log.
    """

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="bridge-chaos-"))

    def close(self) -> None:
        if os.environ.get("BRIDGE_CHAOS_KEEP"):
            print(f"  kept                {self.path}", flush=True)
        else:
            shutil.rmtree(self.path, ignore_errors=True)


def redis_server(stage: Stage) -> RedisServer:
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(executable, stage.path)
    server.start()
    return server
