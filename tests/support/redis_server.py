"""A pytest plugin that runs REAL ``redis-server`` processes on free loopback ports.

* ``redis_server`` (session): one server for the whole run; tests keep apart by using
  :func:`unique_prefix` for their keys.
* ``killable_redis`` (function): a server of the test's own, which the test may
  :meth:`~RedisServer.kill` (SIGKILL) and :meth:`~RedisServer.start` again on the same port.

Both are skipped when ``redis-server`` is not installed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def unique_prefix() -> str:
    """A key prefix no other test uses (``redis.key_prefix``)."""
    return "t" + uuid.uuid4().hex[:16]


class RedisServer:
    """One ``redis-server`` process: no persistence, loopback only, a temporary dir."""

    def __init__(self, executable: str, directory: Path) -> None:
        self._executable = executable
        self._directory = directory
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start (again, on the same port) and wait until it answers PING."""
        if self.running:
            return
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self._directory)]
        self._process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [self._executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        give_up = time.monotonic() + timeout
        while not self.ping():
            if self._process.poll() is not None or time.monotonic() > give_up:
                self.kill()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown, no goodbye to clients."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(timeout=10)
        self._process = None

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def _executable() -> str:
    found = shutil.which("redis-server")
    if found is None:
        pytest.skip("redis-server is not installed")
    return found


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with tempfile.TemporaryDirectory(prefix="bridge-redis-") as directory:
        server = RedisServer(_executable(), Path(directory))
        server.start()
        try:
            yield server
        finally:
            server.kill()


@pytest.fixture
def killable_redis() -> Iterator[RedisServer]:
    with tempfile.TemporaryDirectory(prefix="bridge-redis-") as directory:
        server = RedisServer(_executable(), Path(directory))
        server.start()
        try:
            yield server
        finally:
            server.kill()
