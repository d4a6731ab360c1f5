"""The processes as the operating system sees them: titles, and no worker outliving its
supervisor however the supervisor dies."""

from __future__ import annotations

import asyncio
import errno
import signal
import socket
import subprocess
import time
from pathlib import Path

import aiohttp
import psutil
import yaml

from tests.ops.test_serve import Gateway


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


def _binds(port: int) -> bool:
    """Whether the port can be bound as a new ``bridge serve`` binds it (no SO_REUSEPORT)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("127.0.0.1", port))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        return False
    finally:
        probe.close()
    return True


async def test_supervisor_and_workers_are_titled_in_ps(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path, workers=2)
    try:
        await gateway.wait_healthy(2)
        assert _cmdline(gateway.process.pid) == "bridge: supervisor"
        titles = sorted(_cmdline(pid) for pid in gateway.started())
        assert titles == ["bridge: worker 0", "bridge: worker 1"]
        pids = ",".join(str(pid) for pid in [gateway.process.pid, *gateway.started()])
        ps = ["ps", "-o", "args=", "-p", pids]
        shown = (await asyncio.to_thread(subprocess.check_output, ps, text=True)).splitlines()
        assert [line.strip() for line in shown if line.strip()] == [
            "bridge: supervisor",
            "bridge: worker 0",
            "bridge: worker 1",
        ]
    finally:
        assert gateway.stopped_cleanly()


async def test_workers_exit_within_5s_of_a_killed_supervisor_and_free_the_port(
    tmp_path: Path,
) -> None:
    gateway = Gateway(tmp_path, workers=2)
    try:
        await gateway.wait_healthy(2)
        workers = [psutil.Process(pid) for pid in gateway.started()]
        assert not _binds(gateway.port)  # served: a new gateway would be refused
        gateway.process.send_signal(signal.SIGKILL)
        gateway.process.wait()
        killed = time.monotonic()
        await asyncio.to_thread(psutil.wait_procs, workers, timeout=5)
        assert time.monotonic() - killed < 5.5
        alive = [w.pid for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], f"workers left behind: {alive}"
        assert _binds(gateway.port)
    finally:
        for pid in gateway.started():  # only if the check above failed
            if psutil.pid_exists(pid):
                psutil.Process(pid).kill()


async def test_sighup_with_a_new_host_keeps_serving_and_warns_once_naming_it(
    tmp_path: Path,
) -> None:
    gateway = Gateway(tmp_path, workers=1)
    try:
        await gateway.wait_healthy(1)
        path = tmp_path / "config.yaml"
        data = yaml.safe_load(path.read_text())
        data["server"] = {"host": "127.0.0.2"}  # the port comes from --port, which wins
        path.write_text(yaml.safe_dump(data))
        gateway.process.send_signal(signal.SIGHUP)
        await gateway.wait_until(
            lambda: any(e.startswith("SIGHUP: reloaded") for e in gateway.events()), "the reload"
        )
        warnings = [line for line in gateway.lines() if line.get("level") == "warning"]
        assert [line["event"] for line in warnings] == [
            "SIGHUP: server.host (127.0.0.1 -> 127.0.0.2) takes effect at a restart; "
            f"still listening on 127.0.0.1:{gateway.port}"
        ]
        async with (
            aiohttp.ClientSession() as session,
            session.get(gateway.url + "/healthz") as response,
        ):
            assert response.status == 200
    finally:
        assert gateway.stopped_cleanly()
