"""A worker process of ``bridge serve``, and the configuration check the supervisor runs.

The supervisor (:mod:`bridge.serve`) imports nothing of the application: it starts each worker
as ``python -c "from bridge.worker import main; main()" serve JOB`` with its listening socket
and the write end of a pipe passed as descriptors, and it has the configuration checked by a
short-lived ``... main()" check PATH`` that prints what the supervisor needs (the address, the
backlog, the log format) or the problems, as one JSON line. The worker and the check load the
configuration themselves: secrets never cross a process boundary.

A worker loads the configuration, builds the application and serves its socket through an
``AppRunner``, with uvloop when it is installed. Once it serves it writes ``serving`` to its
pipe. On SIGTERM it drains (``server.drain_seconds``: answers close their connections and
/readyz is 503), gives the requests in flight up to ``server.shutdown_timeout`` seconds to
finish, then closes its resources and exits 0. On SIGUSR2 (a reload replaced it) it answers with
``Connection: close`` for ``max(server.drain_seconds, RETIRE_SECONDS)`` while /readyz stays 200,
then stops like after SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.web_runner import GracefulExit

from bridge.errors import ConfigError
from bridge.processes import die_with_parent, new_event_loop, set_title, worker_title
from bridge.serve import RETIRE_SECONDS, RETIRE_SIGNAL, SERVING, Job, with_server
from bridge.state import DRAINING, RETIRING

if TYPE_CHECKING:
    from bridge.settings.root import Settings

log = logging.getLogger("bridge")


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


EXIT_INVALID = 2

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


def _stop_after(
    app: web.Application, signum: int, seconds: float, flags: list[asyncio.Event], message: str
) -> None:
    """On ``signum`` (once the runner has installed its handlers, replacing its own for
    SIGTERM): set ``flags`` (the last is the drain flag, which the edge middleware reads to
    close connections), log ``message``, and shut down gracefully ``seconds`` later. A second
    signal while draining changes nothing."""
    draining = flags[-1]

    async def take_over(app: web.Application) -> None:
        loop = asyncio.get_running_loop()

        def start() -> None:
            if draining.is_set():
                return
            for flag in flags:
                flag.set()
            log.info(message, seconds)
            loop.call_later(seconds, _shut_down)

        loop.add_signal_handler(signum, start)

    app.on_startup.append(take_over)


def drain_on_sigterm(app: web.Application, seconds: float) -> None:
    """Make SIGTERM drain for ``seconds`` before the graceful shutdown (under :func:`_serve`)."""
    if seconds <= 0:
        return
    message = "SIGTERM: draining for %.1fs, then shutting down"
    _stop_after(app, signal.SIGTERM, seconds, [app[DRAINING]], message)


def _notify_when_serving(ready: int) -> Callable[..., None]:
    """Logs the line it is given; the first (which comes once the socket is served) also tells
    the supervisor this worker serves."""
    told = False

    def show(line: object = "", *args: object, **kwargs: object) -> None:
        nonlocal told
        log.info("%s", " ".join(str(line).strip("= \n").split()))
        if not told:
            told = True
            with contextlib.suppress(OSError):  # the supervisor is gone; SIGTERM follows
                os.write(ready, SERVING)
            os.close(ready)

    return show


def retire_on_sigusr2(app: web.Application, seconds: float) -> None:
    """Make SIGUSR2 (a reload replacing this worker) close connections for ``seconds``, while
    /readyz stays 200, then shut down gracefully."""
    message = "replaced by a reload: closing connections for %.1fs, then stopping"
    _stop_after(app, RETIRE_SIGNAL, seconds, [app[RETIRING], app[DRAINING]], message)


def _prepare(job: Job) -> None:
    die_with_parent(job.supervisor)  # first: a supervisor that dies from here on takes it along
    set_title(worker_title(job.slot))
    # a stop (or a retirement) that arrives while the worker is still starting is a clean stop;
    # once serving, the runner's own handlers take over and finish in-flight requests
    signal.signal(signal.SIGTERM, _exit_quietly)
    signal.signal(RETIRE_SIGNAL, _exit_quietly)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the supervisor's to act on


def run_worker(job: Job) -> None:
    """Serve ``job.socket`` with the configuration at ``job.path`` until stopped."""
    _prepare(job)
    from bridge.settings.loading import load_settings

    try:
        settings = with_server(load_settings(job.path), job.host, job.port)
    except ConfigError as exc:  # the file changed after the supervisor checked it
        print(f"worker {os.getpid()}: {job.path}: {'; '.join(exc.problems)}", file=sys.stderr)
        raise SystemExit(2) from None
    _run(job, settings, socket.socket(fileno=job.socket))


def run_first_worker(job: Job) -> None:
    """A worker of a start (not a restart or a reload): check the configuration and tell the
    supervisor (on ``job.ready``, a Unix socket) what it found, then wait for the listening
    socket and serve it. One interpreter does the check and the serving, and all the workers
    start at once, so the gateway is ready sooner."""
    _prepare(job)
    link = socket.socket(fileno=job.ready)
    settings, found = check(job.path, job.host, job.port)
    with contextlib.suppress(OSError):  # the supervisor is gone, or stops this start
        link.sendall(json.dumps(found).encode() + b"\n")
    if settings is None:
        raise SystemExit(EXIT_INVALID)
    _, fds, _, _ = socket.recv_fds(link, 16, 1)
    if not fds:  # the supervisor could not listen; it says why
        raise SystemExit(0)
    _run(job, settings, socket.socket(fileno=fds[0]), ready=link.detach())


def _run(job: Job, settings: Settings, sock: socket.socket, ready: int | None = None) -> None:
    from bridge.app import create_app
    from bridge.log import configure_logging
    from bridge.metrics import record_worker_restart

    configure_logging(settings.log.format, settings.log.level)
    if job.restart:
        record_worker_restart()
    server = settings.server
    loop, loop_name = new_event_loop(server.event_loop)
    log.info("worker %d starting (%s event loop)", os.getpid(), loop_name)
    app = create_app(settings)
    drain_on_sigterm(app, server.drain_seconds)
    retire_on_sigusr2(app, max(server.drain_seconds, RETIRE_SECONDS))
    app.on_startup.append(_settle_gc)  # after the cleanup contexts have made their resources
    main = loop.create_task(
        _serve(app, sock, settings, _notify_when_serving(job.ready if ready is None else ready))
    )
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


def check(
    path: Path, host: str | None, port: int | None
) -> tuple[Settings | None, dict[str, object]]:
    """The configuration at ``path`` (with ``--host`` and ``--port`` applied) and what the
    supervisor needs from it, or None and its problems: the full validation, every secret
    read, and the demo's and the development secrets' rules for the address it will serve."""
    from bridge.settings.hints import development_secret_problems
    from bridge.settings.loading import load_settings
    from bridge.settings.server import demo_problems

    try:
        settings = with_server(load_settings(path), host, port)
    except ConfigError as exc:
        return None, {"problems": exc.problems, "invalid": True}
    problems = [
        f"demo: {p}" for p in demo_problems(settings.demo, settings.server, settings.upstream)
    ]
    problems += development_secret_problems(settings)  # --host may have left loopback
    if problems:
        return None, {"problems": problems, "invalid": False}
    server = settings.server
    return settings, {
        "host": server.host,
        "port": server.port,
        "backlog": server.backlog,
        "log_format": settings.log.format,
        "log_level": settings.log.level,
    }


def main(argv: Sequence[str] | None = None) -> None:
    """``serve JOB`` (a :class:`~bridge.serve.Job` as JSON), ``first JOB`` (the first worker
    of a start, which checks the configuration first) or ``check JOB``: see above."""
    command, text = argv if argv is not None else sys.argv[1:]
    job = Job.from_json(text)
    if command == "check":
        print(json.dumps(check(job.path, job.host, job.port)[1]), flush=True)
    elif command == "first":
        run_first_worker(job)
    else:
        run_worker(job)
