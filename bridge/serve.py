"""Serving: one process, or N processes sharing the port through SO_REUSEPORT.

Each worker loads the configuration itself (secrets are never pickled across processes) and
runs ``web.run_app`` with uvloop when it is installed. On SIGTERM a worker stops accepting
connections at once, gives the requests in flight up to ``server.shutdown_timeout`` seconds to
finish, then closes its resources and exits 0.

With ``--workers N`` the parent process only supervises: it starts the workers (``spawn``,
so no state is inherited), restarts one that dies unexpectedly (a crash loop of more than
``MAX_RESTARTS`` in ``RESTART_WINDOW`` seconds stops the whole server instead), forwards
SIGTERM and SIGINT to them, and exits with the worst of their exit codes. It also gives the
run a fresh ``PROMETHEUS_MULTIPROC_DIR`` (unless one is set already), so that whichever worker
answers ``/metrics`` reports the sum over all of them, and removes it at the end.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from collections import deque
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

from aiohttp import web
from aiohttp.web_runner import GracefulExit

from bridge.metrics import MULTIPROC_ENV
from bridge.settings.loading import load_settings
from bridge.settings.root import Settings
from bridge.state import DRAINING

log = logging.getLogger("bridge")

MAX_RESTARTS = 5
RESTART_WINDOW = 60.0


def with_server(settings: Settings, host: str | None, port: int | None) -> Settings:
    """``settings`` with ``server.host``/``server.port`` replaced where given."""
    update: dict[str, Any] = {}
    if host is not None:
        update["host"] = host
    if port is not None:
        update["port"] = port
    if not update:
        return settings
    return settings.model_copy(update={"server": settings.server.model_copy(update=update)})


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def new_event_loop(choice: str) -> tuple[asyncio.AbstractEventLoop, str]:
    """uvloop's loop for ``auto`` (when installed) and ``uvloop``; asyncio's otherwise."""
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                message = "server.event_loop is uvloop, but uvloop is not installed"
                raise SystemExit(message) from None
        else:
            return uvloop.new_event_loop(), "uvloop"
    return asyncio.new_event_loop(), "asyncio"


#: young-generation threshold while serving (CPython's default is 700): a request allocates a
#: few hundred objects, so the default collects every couple of requests, and the caches'
#: tens of thousands of entries make the older collections long (the p99 of benchmarks/bench.py)
GC_THRESHOLD = (100_000, 50, 100)


async def _settle_gc(app: web.Application) -> None:
    """After start-up: what exists now (modules, settings, keys) lives as long as the process,
    so the collector stops looking at it (``gc.freeze``), and collects less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def _shut_down() -> None:
    raise GracefulExit()  # what aiohttp's own SIGTERM handler raises


def drain_on_sigterm(app: web.Application, seconds: float) -> None:
    """Make SIGTERM drain for ``seconds`` before the graceful shutdown (``web.run_app`` only)."""
    if seconds <= 0:
        return
    draining = app[DRAINING]  # the edge middleware closes connections while it is set

    async def take_over_sigterm(app: web.Application) -> None:
        # runs after run_app installed its handlers, so this one replaces its SIGTERM handler
        loop = asyncio.get_running_loop()

        def start() -> None:
            if draining.is_set():
                return
            draining.set()
            log.info("SIGTERM: draining for %.1fs, then shutting down", seconds)
            loop.call_later(seconds, _shut_down)

        loop.add_signal_handler(signal.SIGTERM, start)

    app.on_startup.append(take_over_sigterm)


def run_worker(path: Path, host: str | None, port: int | None, reuse_port: bool) -> None:
    # a stop that arrives while the worker is still starting is a clean stop too;
    # once serving, run_app's own handlers take over and finish in-flight requests
    signal.signal(signal.SIGTERM, _exit_quietly)
    from bridge.app import create_app
    from bridge.log import configure_logging

    settings = with_server(load_settings(path), host, port)
    configure_logging(settings.log.format, settings.log.level)
    server = settings.server
    loop, loop_name = new_event_loop(server.event_loop)
    log.info("worker %d starting (%s event loop)", os.getpid(), loop_name)
    app = create_app(settings)
    drain_on_sigterm(app, server.drain_seconds)
    app.on_startup.append(_settle_gc)  # after the cleanup contexts have made their resources
    web.run_app(
        app,
        host=server.host,
        port=server.port,
        reuse_port=reuse_port or None,
        shutdown_timeout=server.shutdown_timeout,
        keepalive_timeout=server.keepalive_timeout,
        backlog=server.backlog,
        access_log=None,  # the edge middleware records the one line per request (bridge.access)
        print=lambda line: log.info("%s", " ".join(str(line).strip("= \n").split())),
        loop=loop,
    )
    log.info("worker %d stopped", os.getpid())


class _Supervisor:
    def __init__(self, path: Path, host: str | None, port: int | None, workers: int) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._args = (path, host, port, True)
        self._processes: list[BaseProcess] = []
        self._count = workers
        self._stopping = False
        self._restarts: deque[float] = deque()
        self.failed = False

    def _spawn(self, index: int) -> BaseProcess:
        process = self._context.Process(target=run_worker, args=self._args, name=f"worker-{index}")
        process.start()
        return process

    def stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True
        for process in self._processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGTERM)

    def _crash_loop(self) -> bool:
        now = time.monotonic()
        self._restarts.append(now)
        while self._restarts and self._restarts[0] < now - RESTART_WINDOW:
            self._restarts.popleft()
        return len(self._restarts) > MAX_RESTARTS

    def run(self) -> int:
        # handlers first: a stop that comes while the workers start must reach them all
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        log.info("supervisor %d starting %d workers", os.getpid(), self._count)
        for index in range(self._count):
            process = self._spawn(index)
            self._processes.append(process)
            if self._stopping and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        reaped: set[int] = set()
        while len(reaped) < len(self._processes) or any(
            p.pid not in reaped for p in self._processes
        ):
            running = [p for p in self._processes if p.exitcode is None]
            if running:
                wait([p.sentinel for p in running], timeout=1.0)
            for index, process in enumerate(self._processes):
                if process.exitcode is None or process.pid is None or process.pid in reaped:
                    continue
                reaped.add(process.pid)
                process.join()
                _mark_dead(process.pid)
                log.info("%s (pid %d) exited with %s", process.name, process.pid, process.exitcode)
                if self._stopping:
                    continue
                if self._crash_loop():
                    log.error("workers keep dying; stopping the server")
                    self.failed = True
                    self.stop(signal.SIGTERM, None)
                    continue
                log.warning("restarting %s", process.name)
                replacement = self._spawn(index)
                self._processes[index] = replacement
                if self._stopping and replacement.pid is not None:  # a stop came meanwhile
                    os.kill(replacement.pid, signal.SIGTERM)
        if self.failed:
            return 1
        return max((self._exit_status(p) for p in self._processes), default=0)

    def _exit_status(self, process: BaseProcess) -> int:
        """0 for a clean stop; a worker killed by the SIGTERM we sent (it was still starting
        up, before its handlers were in place) stopped cleanly too."""
        code = process.exitcode or 0
        if self._stopping and code == -signal.SIGTERM:
            return 0
        return abs(code)


def _mark_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (Redis up, breaker state) from the shared metrics."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def serve(path: Path, *, host: str | None, port: int | None, workers: int) -> int:
    if workers == 1:
        run_worker(path, host, port, reuse_port=False)
        return 0
    from bridge.log import configure_logging

    settings = load_settings(path)
    configure_logging(settings.log.format, settings.log.level)
    created = None
    if not os.environ.get(MULTIPROC_ENV):
        created = tempfile.mkdtemp(prefix="bridge-metrics-")
        os.environ[MULTIPROC_ENV] = created  # inherited by the spawned workers
    try:
        return _Supervisor(path, host, port, workers).run()
    finally:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
            del os.environ[MULTIPROC_ENV]
