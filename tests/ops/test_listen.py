"""Where ``bridge serve`` listens: a port in use is one line and exit 2, and a second gateway
on a port one already serves is refused unless it asks for ``--reuse-port``."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import config
from tests.ops.test_serve import ROOT, Gateway, fresh_connection_get


def serve(config_path: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "bridge", "serve", "--config", str(config_path),
         "--port", str(port), *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "second.yaml"
    path.write_text(yaml.safe_dump(config(log={"format": "json"})))
    return path


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = serve(write_config(tmp_path), port)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"bridge: cannot listen on 127.0.0.1:{port}: ")
    assert "Address already in use" in lines[0]
    assert "Traceback" not in stderr


async def test_a_second_serve_on_a_served_port_is_refused_unless_asked(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path, workers=2)
    try:
        await gateway.wait_healthy(workers=2)
        second = serve(write_config(tmp_path), gateway.port, "--workers", "2")
        _, stderr = second.communicate(timeout=30)
        assert second.returncode == 2
        assert stderr.strip().splitlines() == [
            f"bridge: cannot listen on 127.0.0.1:{gateway.port}: Address already in use "
            "(another server, perhaps another bridge serve, listens there; "
            "--reuse-port shares the port with it on purpose)"
        ]
        # the first one never noticed
        assert (await fresh_connection_get(gateway.url + "/healthz"))[0] == 200

        shared = serve(write_config(tmp_path), gateway.port, "--reuse-port")
        try:
            assert shared.stdout is not None
            for line in shared.stdout:  # it joins the port and serves
                if "Running on" in line:
                    break
            assert shared.poll() is None
        finally:
            shared.terminate()
            shared.communicate(timeout=60)
        assert shared.returncode == 0
        assert gateway.stopped_cleanly()
    finally:
        gateway.kill()
