"""A pytest plugin with REAL Redis Sentinel and Redis Cluster set-ups on loopback ports.

* ``redis_sentinel`` (function): a master, one replica and one sentinel (quorum 1, a master is
  declared down after 500 ms), each a ``redis-server`` process; the test may kill the master
  or ask for a failover and wait for the sentinel to name the new one.
* ``redis_cluster`` (function): three masters holding all 16384 slots, no replicas, created
  with ``redis-cli --cluster create``.

Both are skipped when ``redis-server`` (or, for the cluster, ``redis-cli``) is missing.
Debian's ``redis-server`` binary runs a sentinel with ``--sentinel``; no other package needed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import free_port

MASTER_NAME = "bridge-test"


def _ask(port: int, *command: str, timeout: float = 1.0) -> str:
    """One inline command over a raw socket (no client library, no connection pool)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall((" ".join(command) + "\r\n").encode())
        chunks = b""
        sock.settimeout(timeout)
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks += chunk
            if _complete(chunks):
                break
        return chunks.decode(errors="replace")


def _complete(reply: bytes) -> bool:
    if reply[:1] in (b"+", b"-", b":"):
        return reply.endswith(b"\r\n")
    if reply[:1] == b"$":
        header, _, rest = reply.partition(b"\r\n")
        size = int(header[1:])
        return size < 0 or len(rest) >= size + 2
    if reply[:1] == b"*":
        # arrays of bulk strings are all these helpers read; close enough for small replies
        header, _, rest = reply.partition(b"\r\n")
        return int(header[1:]) <= 0 or rest.count(b"\r\n") >= 2 * int(header[1:])
    return False


def wait_until(check: object, what: str, seconds: float = 20.0) -> None:
    assert callable(check)
    give_up = time.monotonic() + seconds
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Node:
    """One ``redis-server`` process with its own directory and extra arguments."""

    def __init__(self, executable: str, directory: Path, *args: str, sentinel: bool = False):
        self.port = free_port()
        self.directory = directory / str(self.port)
        self.directory.mkdir()
        self._executable = executable
        self._args = list(args)
        self._sentinel = sentinel
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self._sentinel:
            config = self.directory / "sentinel.conf"
            config.write_text(
                f"port {self.port}\nbind 127.0.0.1\ndir {self.directory}\n"
                + "".join(line + "\n" for line in self._args)
            )
            command = [self._executable, str(config), "--sentinel"]
        else:
            command = [self._executable, "--port", str(self.port), "--bind", "127.0.0.1",
                       "--save", "", "--appendonly", "no", "--dir", str(self.directory),
                       *self._args]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(lambda: _ask(self.port, "PING").startswith("+PONG"), f"redis on {self.port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def ask(self, *command: str, timeout: float = 1.0) -> str:
        return _ask(self.port, *command, timeout=timeout)


def _executable(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


class SentinelSetup:
    def __init__(self, master: Node, replica: Node, sentinel: Node) -> None:
        self.master = master
        self.replica = replica
        self.sentinel = sentinel

    @property
    def nodes(self) -> list[Node]:
        return [self.master, self.replica, self.sentinel]

    def replica_is_good(self) -> bool:
        """The sentinel knows the replica, sees it up and linked: a failover can pick it."""
        reply = self.sentinel.ask("SENTINEL", "REPLICAS", MASTER_NAME, timeout=0.3)
        return (
            f"\r\n{self.replica.port}\r\n" in reply
            and "\r\nflags\r\n$5\r\nslave\r\n" in reply
            and "\r\nmaster-link-status\r\n$2\r\nok\r\n" in reply
        )

    def master_port(self) -> int:
        """The master as clients see it: ``SENTINEL MASTER`` (``get-master-addr-by-name``
        names the promoted replica earlier, while the failover is still in progress)."""
        reply = self.sentinel.ask("SENTINEL", "MASTER", MASTER_NAME).split("\r\n")
        fields = reply[2::2]
        info = dict(zip(fields[::2], fields[1::2], strict=False))
        if "failover_in_progress" in info.get("flags", ""):
            return 0
        return int(info["port"])

    def wait_for_master(self, port: int, seconds: float = 30.0) -> None:
        wait_until(lambda: self.master_port() == port, f"sentinel to switch to {port}", seconds)
        node = next(n for n in self.nodes if n.port == port)
        wait_until(lambda: "role:master" in node.ask("INFO", "replication"), "promotion")


@pytest.fixture
def redis_sentinel() -> Iterator[SentinelSetup]:
    executable = _executable("redis-server")
    with tempfile.TemporaryDirectory(prefix="bridge-sentinel-") as tmp:
        directory = Path(tmp)
        master = Node(executable, directory)
        master.start()
        replica = Node(executable, directory, "--replicaof", "127.0.0.1", str(master.port))
        sentinel = Node(
            executable,
            directory,
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master.port} 1",
            f"sentinel down-after-milliseconds {MASTER_NAME} 500",
            f"sentinel failover-timeout {MASTER_NAME} 5000",
            sentinel=True,
        )
        setup = SentinelSetup(master, replica, sentinel)
        try:
            replica.start()
            wait_until(
                lambda: "master_link_status:up" in replica.ask("INFO", "replication"),
                "the replica to sync",
            )
            sentinel.start()
            wait_until(lambda: setup.replica_is_good(), "the sentinel to vet the replica")
            yield setup
        finally:
            for node in setup.nodes:
                node.kill()


def _cluster_ok(node: Node) -> bool:
    return "cluster_state:ok" in node.ask("CLUSTER", "INFO")


@pytest.fixture
def redis_cluster() -> Iterator[list[Node]]:
    executable = _executable("redis-server")
    cli = _executable("redis-cli")
    with tempfile.TemporaryDirectory(prefix="bridge-cluster-") as tmp:
        directory = Path(tmp)
        # the bus port defaults to port + 10000, which overflows for high ephemeral ports
        nodes = [
            Node(executable, directory, "--cluster-enabled", "yes",
                 "--cluster-node-timeout", "2000", "--cluster-port", str(free_port()))
            for _ in range(3)
        ]  # fmt: skip
        try:
            for node in nodes:
                node.start()
            subprocess.run(  # noqa: S603 - fixed arguments
                [cli, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in nodes),
                 "--cluster-replicas", "0", "--cluster-yes"],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
            wait_until(lambda: all(_cluster_ok(n) for n in nodes), "the cluster to form")
            yield nodes
        finally:
            for node in nodes:
                node.kill()
