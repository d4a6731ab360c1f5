"""``bridge serve`` as a real process: workers, metrics across workers, graceful SIGTERM.

Each test starts the command line on a free loopback port with a config file of its own and
reads the JSON lines it prints. Requests that must be in flight during a SIGTERM are staff
lookups held up by the fake Zendesk (a real HTTP server in the test's own event loop).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from tests.api.test_visitors import AUTH, STAFF_KEY
from tests.conftest import config
from tests.support.fake_zendesk import CHAT_TOKEN, FakeZendesk
from tests.support.prom import parse, value
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
WORKER_STARTING = re.compile(r"worker (\d+) starting \((\w+) event loop\)")


class Gateway:
    """One ``bridge serve`` process; its output goes to a file (several workers write it)."""

    def __init__(
        self, tmp_path: Path, workers: int, *, use_config: bool = False, **overrides: Any
    ) -> None:
        path = tmp_path / "config.yaml"
        if not use_config:  # else the test has written it
            path.write_text(yaml.safe_dump(config(log={"format": "json"}, **overrides)))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output = tmp_path / "output.log"
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
                [sys.executable, "-m", "bridge", "serve", "--config", str(path),
                 "--port", str(self.port), "--workers", str(workers)],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for line in self.output.read_text(errors="replace").splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
        return found

    def events(self) -> list[str]:
        return [str(line.get("event")) for line in self.lines()]

    def started(self) -> list[int]:
        """The pids of the workers that have started, in order."""
        return [int(m[1]) for e in self.events() if (m := WORKER_STARTING.match(e))]

    def access(self, route: str) -> list[dict[str, Any]]:
        return [
            line
            for line in self.lines()
            if line.get("logger") == "bridge.access" and line.get("route") == route
        ]

    async def wait_until(self, check: Any, what: str, seconds: float = 30) -> None:
        for _ in range(int(seconds * 20)):
            if check():
                return
            assert self.process.poll() is None, self.output.read_text()
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n{self.output.read_text()}")

    async def wait_healthy(self, workers: int) -> None:
        await self.wait_until(lambda: len(self.started()) >= workers, "workers to start")
        # each worker says so once its socket listens; until then the others take everything
        await self.wait_until(
            lambda: sum(e.startswith("Running on") for e in self.events()) >= workers,
            "every worker to listen",
        )
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(self.url + "/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(self.output.read_text())

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def stopped_cleanly(self) -> bool:
        """SIGTERM, then exit status 0; otherwise the end of the output says why."""
        code = self.stop()
        if code != 0:
            print(f"exit status {code}; the gateway's last output:")
            print("\n".join(self.output.read_text(errors="replace").splitlines()[-40:]))
        return code == 0

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def fresh_connection_get(url: str, **kwargs: Any) -> tuple[int, str]:
    """A GET on a connection of its own, so SO_REUSEPORT may pick any worker."""
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session,
        session.get(url, **kwargs) as response,
    ):
        return response.status, await response.text()


async def test_workers_share_the_port_and_any_of_them_reports_everyones_metrics(
    tmp_path: Path,
) -> None:
    gateway = Gateway(tmp_path, workers=2)
    try:
        await gateway.wait_healthy(workers=2)
        for _ in range(40):
            status, _ = await fresh_connection_get(gateway.url + "/generate/token")
            assert status == 401
        # each worker records its requests in batches, at least every access_flush_seconds (1 s)
        await asyncio.sleep(1.5)
        for _ in range(6):  # each scrape may land on either worker; each must see all 40
            status, text = await fresh_connection_get(gateway.url + "/metrics")
            assert status == 200
            samples = parse(text)
            counted = value(
                samples, "bridge_http_requests_total",
                route="/generate/token", method="GET", status="401",
            )  # fmt: skip
            assert counted == 40
            failures = value(samples, "bridge_token_verification_failures_total", reason="00-00")
            assert failures == 40
            # the durations histogram is counted by each worker and added up by the scrape
            histogram = "bridge_http_request_duration_seconds"
            route = {"route": "/generate/token"}
            assert value(samples, f"{histogram}_count", **route) == 40
            assert value(samples, f"{histogram}_bucket", le="+Inf", **route) == 40
            assert value(samples, f"{histogram}_bucket", le="5.0", **route) == 40
            assert 0 < value(samples, f"{histogram}_sum", **route) < 40 * 5
        # access lines are buffered for up to log.access_flush_seconds (1 s by default)
        await gateway.wait_until(
            lambda: len(gateway.access("/generate/token")) == 40, "40 access lines", seconds=5
        )
        served_by = {line["pid"] for line in gateway.access("/generate/token")}
        assert len(served_by) == 2  # 40 fresh connections all on one worker: 2**-39
        loops = [m[2] for e in gateway.events() if (m := WORKER_STARTING.match(e))]
        assert loops == ["uvloop", "uvloop"]
        assert gateway.stopped_cleanly()
    finally:
        gateway.kill()


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_lets_requests_in_flight_finish(
    tmp_path: Path, fake_zendesk: FakeZendesk, workers: int
) -> None:
    visitors = [f"9855790.flight{i}" for i in range(12)]
    for visitor in visitors:
        fake_zendesk.visitors[visitor] = {"id": visitor, "name": "In flight"}
    fake_zendesk.delay = 1.5
    gateway = Gateway(
        tmp_path,
        workers=workers,
        staff={"api_keys": [{"value": STAFF_KEY}]},
        zendesk_chat_api={"base_url": fake_zendesk.chat_url, "token": {"value": CHAT_TOKEN}},
    )
    try:
        await gateway.wait_healthy(workers=workers)
        calls = [
            asyncio.create_task(
                fresh_connection_get(f"{gateway.url}/v1/visitors/{visitor}", headers=AUTH)
            )
            for visitor in visitors
        ]
        # every lookup has reached Zendesk: all twelve are in flight in the gateway now
        await gateway.wait_until(lambda: len(fake_zendesk.requests) == 12, "lookups in flight")
        gateway.process.send_signal(signal.SIGTERM)
        answers = await asyncio.gather(*calls)
        assert [status for status, _ in answers] == [200] * 12
        assert [json.loads(body)["visitor"]["id"] for _, body in answers] == visitors
        returncode = await asyncio.to_thread(gateway.process.wait, 60)
        assert returncode == 0
        assert (
            len([a for a in gateway.access("/v1/visitors/{visitor_id}") if a["status"] == 200])
            == 12
        )
        with pytest.raises(aiohttp.ClientConnectionError):
            await fresh_connection_get(gateway.url + "/healthz")
    finally:
        gateway.kill()


async def test_a_worker_that_dies_is_replaced(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path, workers=2)
    try:
        await gateway.wait_healthy(workers=2)
        victim = gateway.started()[0]
        os.kill(victim, signal.SIGKILL)
        await gateway.wait_until(lambda: len(gateway.started()) == 3, "a replacement worker")
        assert any(e.startswith("restarting worker-") for e in gateway.events())
        assert any(e.endswith(f"(pid {victim}) exited with -9") for e in gateway.events())
        for _ in range(10):
            status, _ = await fresh_connection_get(gateway.url + "/healthz")
            assert status == 200
        assert gateway.stopped_cleanly()
    finally:
        gateway.kill()


async def test_a_stop_while_the_workers_start_is_a_clean_stop(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path, workers=2)
    try:
        await gateway.wait_until(
            lambda: any(e.startswith("supervisor ") for e in gateway.events()), "the supervisor"
        )
        # the workers are still importing: SIGTERM finds them without handlers yet
        assert await asyncio.to_thread(gateway.stop) == 0
        await asyncio.sleep(1.5)  # a worker left behind would be serving by now
        with pytest.raises(aiohttp.ClientConnectionError):
            await fresh_connection_get(gateway.url + "/healthz")
    finally:
        gateway.kill()


async def test_a_worker_settles_the_collector_after_start_up() -> None:
    from bridge.worker import GC_THRESHOLD, _settle_gc

    saved = gc.get_threshold()
    try:
        await _settle_gc(web.Application())
        assert gc.get_threshold() == GC_THRESHOLD
        assert gc.get_freeze_count() > 0  # start-up objects are no longer scanned
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)
