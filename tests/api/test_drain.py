"""The drain on SIGTERM: /readyz 503, Connection: close on every answer, then a clean exit."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import yaml

from bridge.state import DRAINING
from tests.conftest import AppClient
from tests.ops.test_cli import EXAMPLE, ROOT, free_port, wait_healthy


async def test_readyz_is_503_while_draining(client: AppClient) -> None:
    assert (await client.get("/readyz")).status == 200
    client.app[DRAINING].set()
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["code"] == "draining"
    assert (await client.get("/healthz")).status == 200


async def test_sigterm_drains_then_exits_cleanly(tmp_path: Path) -> None:
    config = yaml.safe_load(EXAMPLE.read_text())
    config["server"]["drain_seconds"] = 1.5
    config["targets"]["zipchat"]["private_key"] = {"file": str(ROOT / "dev/zipchat-dev-key.pem")}
    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(  # noqa: S603, ASYNC220 - a server process we wait on below
        [sys.executable, "-m", "bridge", "serve", "--config", str(path), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        await wait_healthy(f"{base}/healthz", process)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/healthz") as before:
                assert before.headers.get("Connection", "").lower() != "close"
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            async with session.get(f"{base}/readyz") as ready:
                assert ready.status == 503
                assert ready.headers["Connection"].lower() == "close"
            async with session.get(f"{base}/generate/token") as token:
                assert token.status == 401  # still served during the drain
                assert token.headers["Connection"].lower() == "close"
        output, _ = await asyncio.to_thread(process.communicate, timeout=30)
        assert process.returncode == 0, output
        assert "draining for 1.5s" in output
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
