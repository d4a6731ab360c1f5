"""Serving: N worker processes behind one supervisor, sharing the port through SO_REUSEPORT.

The supervisor binds the listening sockets itself (:mod:`bridge.listen`: a port in use is one
line and exit 2, a second ``bridge serve`` on the same port is refused unless it asks for
``--reuse-port``) and hands one to each worker. Each worker loads the configuration itself
(secrets are never pickled across processes) and serves its socket through an ``AppRunner``, with
uvloop when it is installed. On SIGTERM a worker drains (``server.drain_seconds``: answers
close their connections and /readyz is 503), gives the requests in flight up to
``server.shutdown_timeout`` seconds to finish, then closes its resources and exits 0.

The supervisor starts the workers (``spawn``, so no state is inherited), restarts one that
dies unexpectedly (a crash loop of more than ``MAX_RESTARTS`` in ``RESTART_WINDOW`` seconds
stops the whole server instead), forwards SIGTERM and SIGINT to them, and exits with the worst
of their exit codes. It also gives the run a fresh ``PROMETHEUS_MULTIPROC_DIR`` (unless one is
set already), so that whichever worker answers ``/metrics`` reports the sum over all of them,
and removes it at the end.

SIGHUP reloads. The supervisor validates the configuration file (and every secret it names);
an invalid one is refused with a log line naming its problems, and the running workers go on.
Otherwise it starts a new generation of workers on the same sockets, and once every one of
them serves it retires the old ones (SIGUSR2): each answers with ``Connection: close`` for
``max(server.drain_seconds, RETIRE_SECONDS)`` while /readyz stays 200 (so keep-alive clients
move over), then stops taking connections and exits like after SIGTERM. The supervisor keeps
every listening socket open, so the connections waiting in one are taken by the new worker on
the same socket instead of being reset, and no request in flight is cut off. A new worker that
dies before it serves abandons the reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

from aiohttp import web
from aiohttp.web_runner import GracefulExit

from bridge.errors import ConfigError, ListenError
from bridge.listen import bind_sockets
from bridge.metrics import MULTIPROC_ENV, record_worker_restart
from bridge.processes import (
    SUPERVISOR_TITLE,
    die_with_parent,
    new_event_loop,
    set_title,
    worker_title,
)
from bridge.settings.hints import development_secret_problems
from bridge.settings.loading import load_settings
from bridge.settings.root import Settings
from bridge.settings.server import demo_problems
from bridge.state import DRAINING, RETIRING

log = logging.getLogger("bridge")

MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
#: what the supervisor sends a worker that a reload replaces
RETIRE_SIGNAL = signal.SIGUSR2
#: least seconds a replaced worker keeps answering (with ``Connection: close``) before it stops
RETIRE_SECONDS = 1.0
#: seconds a reload's new workers get to serve before the reload is abandoned
RELOAD_TIMEOUT = 60.0


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
    """Make SIGTERM drain for ``seconds`` before the graceful shutdown (under :func:`_serve`)."""
    if seconds <= 0:
        return
    draining = app[DRAINING]  # the edge middleware closes connections while it is set

    async def take_over_sigterm(app: web.Application) -> None:
        # runs after the runner installed its handlers, so this one replaces its SIGTERM handler
        loop = asyncio.get_running_loop()

        def start() -> None:
            if draining.is_set():
                return
            draining.set()
            log.info("SIGTERM: draining for %.1fs, then shutting down", seconds)
            loop.call_later(seconds, _shut_down)

        loop.add_signal_handler(signal.SIGTERM, start)

    app.on_startup.append(take_over_sigterm)


def _notify_when_serving(ready: Connection) -> Callable[..., None]:
    """Logs the line it is given; the first (which comes once the socket is served) also tells
    the supervisor this worker serves."""
    told = False

    def show(line: object = "", *args: object, **kwargs: object) -> None:
        nonlocal told
        log.info("%s", " ".join(str(line).strip("= \n").split()))
        if not told:
            told = True
            with contextlib.suppress(OSError):  # the supervisor is gone; SIGTERM follows
                ready.send_bytes(b"serving")
            ready.close()

    return show


def retire_on_sigusr2(app: web.Application, seconds: float) -> None:
    """Make SIGUSR2 (a reload replacing this worker) close connections for ``seconds``, while
    /readyz stays 200, then shut down gracefully."""
    draining, retiring = app[DRAINING], app[RETIRING]

    async def take_over_sigusr2(app: web.Application) -> None:
        loop = asyncio.get_running_loop()

        def start() -> None:
            if draining.is_set():
                return
            retiring.set()
            draining.set()
            log.info("replaced by a reload: closing connections for %.1fs, then stopping", seconds)
            loop.call_later(seconds, _shut_down)

        loop.add_signal_handler(RETIRE_SIGNAL, start)

    app.on_startup.append(take_over_sigusr2)


def run_worker(
    path: Path,
    host: str | None,
    port: int | None,
    sock: socket.socket,
    ready: Connection,
    slot: int,
    supervisor: int,
) -> None:
    die_with_parent(supervisor)  # first: a supervisor that dies from here on takes it along
    set_title(worker_title(slot))
    # a stop (or a retirement) that arrives while the worker is still starting is a clean stop;
    # once serving, the runner's own handlers take over and finish in-flight requests
    signal.signal(signal.SIGTERM, _exit_quietly)
    signal.signal(RETIRE_SIGNAL, _exit_quietly)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the supervisor's to act on
    from bridge.app import create_app
    from bridge.log import configure_logging

    try:
        settings = with_server(load_settings(path), host, port)
    except ConfigError as exc:  # the file changed after the supervisor checked it
        print(f"worker {os.getpid()}: {path}: {'; '.join(exc.problems)}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings.log.format, settings.log.level)
    server = settings.server
    loop, loop_name = new_event_loop(server.event_loop)
    log.info("worker %d starting (%s event loop)", os.getpid(), loop_name)
    app = create_app(settings)
    drain_on_sigterm(app, server.drain_seconds)
    retire_on_sigusr2(app, max(server.drain_seconds, RETIRE_SECONDS))
    app.on_startup.append(_settle_gc)  # after the cleanup contexts have made their resources
    main = loop.create_task(_serve(app, sock, settings, _notify_when_serving(ready)))
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
    except (GracefulExit, KeyboardInterrupt):
        pass
    finally:
        try:
            if not main.done():  # a stop: its cleanup runs now
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(main)
        finally:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            asyncio.set_event_loop(None)
    log.info("worker %d stopped", os.getpid())


async def _serve(
    app: web.Application, sock: socket.socket, settings: Settings, notify: Callable[[str], None]
) -> None:
    """What ``web.run_app`` does for one socket, with the token routes' fast path installed
    between the runner's set-up and the first connection (``bridge.app.install_fast_path``).
    It serves until SIGTERM or SIGINT (aiohttp's ``GracefulExit``), then shuts the runner down:
    in-flight requests get ``server.shutdown_timeout`` seconds, then the app's resources close.
    """
    from bridge.app import install_fast_path

    server = settings.server
    runner = web.AppRunner(
        app,
        handle_signals=True,
        access_log=None,  # the edge middleware records the one line per request (bridge.access)
        keepalive_timeout=server.keepalive_timeout,
        shutdown_timeout=server.shutdown_timeout,
    )
    await runner.setup()
    try:
        install_fast_path(runner)
        site = web.SockSite(runner, sock, backlog=server.backlog)
        await site.start()
        notify(f"Running on {site.name}")
        await asyncio.Event().wait()  # until GracefulExit ends the loop's run
    finally:
        await runner.cleanup()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left on ``loop`` after the runner's cleanup, and let it finish."""
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    slot: int
    #: the supervisor's end of the pipe on which the worker says it serves
    ready: Connection
    serving: bool = False
    reaped: bool = False


class _Supervisor:
    def __init__(
        self,
        path: Path,
        host: str | None,
        port: int | None,
        sockets: list[socket.socket],
        address: tuple[str, int],
    ) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._path, self._host, self._port = path, host, port
        self._sockets = sockets
        self._address = address  # server.host and server.port as bound
        self._current: list[_Worker] = []
        self._pending: list[_Worker] | None = None  # a reload's new generation, starting
        self._pending_since = 0.0
        self._others: list[_Worker] = []  # retired or abandoned: never restarted
        self._stopping = False
        self._reload_wanted = False
        self._restarts: deque[float] = deque()
        self.failed = False

    def _spawn(self, slot: int) -> _Worker:
        reader, writer = self._context.Pipe(duplex=False)
        sock = self._sockets[slot]
        args = (self._path, self._host, self._port, sock, writer, slot, os.getpid())
        process = self._context.Process(target=run_worker, args=args, name=f"worker-{slot}")
        process.start()
        writer.close()
        worker = _Worker(process, slot, reader)
        if self._stopping:  # a stop came while it started
            self._signal(worker, signal.SIGTERM)
        return worker

    def _signal(self, worker: _Worker, signum: int) -> None:
        pid = worker.process.pid
        if pid is not None and worker.process.exitcode is None:
            os.kill(pid, signum)

    def _all(self) -> list[_Worker]:
        return self._current + (self._pending or []) + self._others

    def stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True
        for worker in self._all():
            self._signal(worker, signal.SIGTERM)

    def request_reload(self, signum: int, frame: FrameType | None) -> None:
        self._reload_wanted = True

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
        signal.signal(signal.SIGHUP, self.request_reload)
        log.info("supervisor %d starting %d workers", os.getpid(), len(self._sockets))
        for slot in range(len(self._sockets)):
            self._current.append(self._spawn(slot))
        while any(not w.reaped for w in self._all()):
            waiting: list[Any] = [w.process.sentinel for w in self._all() if not w.reaped]
            waiting += [w.ready for w in self._all() if not w.serving and not w.ready.closed]
            wait(waiting, timeout=0.5)
            self._collect_ready()
            self._reap()
            if self._reload_wanted and self._pending is None and not self._stopping:
                self._reload_wanted = False
                self._begin_reload()
            self._advance_reload()
        for sock in self._sockets:
            sock.close()
        if self.failed:
            return 1
        return max((self._exit_status(w.process) for w in self._current), default=0)

    def _collect_ready(self) -> None:
        for worker in self._all():
            if worker.serving or worker.ready.closed or not worker.ready.poll():
                continue
            with contextlib.suppress(EOFError, OSError):  # it died first; _reap sees it
                worker.serving = worker.ready.recv_bytes() == b"serving"
            worker.ready.close()

    def _reap(self) -> None:
        for worker in self._all():
            process = worker.process
            if process.exitcode is None or process.pid is None or worker.reaped:
                continue
            worker.reaped = True
            process.join()
            if not worker.ready.closed:
                worker.ready.close()
            _mark_dead(process.pid)
            log.info("%s (pid %d) exited with %s", process.name, process.pid, process.exitcode)
            if self._pending is not None and worker in self._pending:
                self._abandon_reload(f"{process.name} exited with {process.exitcode} first")
            elif worker in self._current and not self._stopping:
                self._replace(worker)
        self._others = [w for w in self._others if not w.reaped]  # nothing left to watch

    def _replace(self, worker: _Worker) -> None:
        if self._crash_loop():
            log.error("workers keep dying; stopping the server")
            self.failed = True
            self.stop(signal.SIGTERM, None)
            return
        log.warning("restarting %s", worker.process.name)
        record_worker_restart()
        self._current[self._current.index(worker)] = self._spawn(worker.slot)

    def _begin_reload(self) -> None:
        try:
            settings = with_server(load_settings(self._path), self._host, self._port)
        except ConfigError as exc:
            log.error(
                "SIGHUP: %s refused, the running configuration stays: %d problem(s): %s",
                self._path, len(exc.problems), "; ".join(exc.problems),
            )  # fmt: skip
            return
        problems = [
            f"demo: {p}" for p in demo_problems(settings.demo, settings.server, settings.upstream)
        ]
        problems += development_secret_problems(settings)  # with --host applied
        if problems:
            log.error("SIGHUP: %s refused: %s", self._path, "; ".join(problems))
            return
        listening = self._sockets[0].getsockname()[:2]
        changed = [
            f"server.{key} ({was} -> {now})"
            for key, was, now in zip(
                ("host", "port"),
                self._address,
                (settings.server.host, settings.server.port),
                strict=True,
            )
            if was != now
        ]
        if changed:
            log.warning(
                "SIGHUP: %s takes effect at a restart; still listening on %s:%s",
                " and ".join(changed), *listening,
            )  # fmt: skip
        log.info(
            "SIGHUP: reloading %s: starting %d new workers (still listening on %s:%s)",
            self._path, len(self._sockets), *listening,
        )  # fmt: skip
        self._pending_since = time.monotonic()
        self._pending = [self._spawn(slot) for slot in range(len(self._sockets))]

    def _abandon_reload(self, why: str) -> None:
        assert self._pending is not None
        log.error("SIGHUP: reload abandoned (%s); the running workers go on", why)
        for worker in self._pending:
            self._signal(worker, signal.SIGTERM)
        self._others += self._pending
        self._pending = None

    def _advance_reload(self) -> None:
        if self._pending is None:
            return
        if all(w.serving for w in self._pending):
            old, self._current, self._pending = self._current, self._pending, None
            for worker in old:
                self._signal(worker, RETIRE_SIGNAL)
            self._others += old
            log.info("SIGHUP: reloaded; %d new workers serve, the old ones retire", len(old))
        elif time.monotonic() - self._pending_since > RELOAD_TIMEOUT:
            self._abandon_reload(f"the new workers did not serve within {RELOAD_TIMEOUT:.0f}s")

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


def serve(
    path: Path, *, host: str | None, port: int | None, workers: int, share: bool = False
) -> int:
    """Run the gateway until it is stopped; its exit status. ``share``: ``--reuse-port``."""
    from bridge.log import configure_logging

    settings = with_server(load_settings(path), host, port)
    configure_logging(settings.log.format, settings.log.level)
    set_title(SUPERVISOR_TITLE)
    server = settings.server
    try:
        sockets = bind_sockets(
            server.host, server.port, workers, backlog=server.backlog, share=share
        )
    except ListenError as exc:
        print(f"bridge: {exc}", file=sys.stderr)
        return 2
    created = None
    if not os.environ.get(MULTIPROC_ENV):
        created = tempfile.mkdtemp(prefix="bridge-metrics-")
        os.environ[MULTIPROC_ENV] = created  # inherited by the spawned workers
    try:
        return _Supervisor(path, host, port, sockets, (server.host, server.port)).run()
    finally:
        for sock in sockets:
            sock.close()
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
            del os.environ[MULTIPROC_ENV]
