"""Serving: one process, or N processes sharing the port through SO_REUSEPORT.

Each worker loads the configuration itself (secrets are never pickled across processes) and
runs ``web.run_app``, which finishes in-flight requests on SIGTERM before it exits. The parent
forwards SIGTERM and SIGINT to its workers and exits with the worst of their exit codes.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from pathlib import Path
from types import FrameType
from typing import Any

from aiohttp import web

from bridge.settings import Settings, load_settings

log = logging.getLogger("bridge")


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


def run_worker(path: Path, host: str | None, port: int | None, reuse_port: bool) -> None:
    # a stop that arrives while the worker is still starting is a clean stop too;
    # once serving, run_app's own handlers take over and finish in-flight requests
    signal.signal(signal.SIGTERM, _exit_quietly)
    from bridge.app import create_app
    from bridge.drain import drain_on_sigterm
    from bridge.log import AccessLogger, access_log, configure_logging

    configure_logging()
    settings = with_server(load_settings(path), host, port)
    app = create_app(settings)
    drain_on_sigterm(app, settings.server.drain_seconds)
    web.run_app(
        app,
        host=settings.server.host,
        port=settings.server.port,
        reuse_port=reuse_port or None,
        access_log=access_log,
        access_log_class=AccessLogger,
        print=lambda line: log.info("%s", line),
    )


def serve(path: Path, *, host: str | None, port: int | None, workers: int) -> int:
    if workers == 1:
        run_worker(path, host, port, reuse_port=False)
        return 0
    from bridge.log import configure_logging

    configure_logging()
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=run_worker, args=(path, host, port, True), name=f"worker-{i}")
        for i in range(workers)
    ]
    for process in processes:
        process.start()

    def forward(signum: int, frame: FrameType | None) -> None:
        for process in processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for process in processes:
        process.join()
        log.info("%s exited with %s", process.name, process.exitcode)
    return max((abs(process.exitcode or 0) for process in processes), default=0)
