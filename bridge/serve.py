"""Serving: N worker processes behind one supervisor, sharing the port through SO_REUSEPORT.

The supervisor holds only what that takes: it imports nothing of the application (no aiohttp,
no configuration schema, no vendors, no Redis, metrics or cryptography; a test keeps it so).
The configuration is checked in full by a short-lived child (:func:`bridge.worker.check`), at
the start and on each SIGHUP. The supervisor binds the listening sockets itself
(:mod:`bridge.listen`: a port in use is one line and exit 2, a second ``bridge serve`` on the
same port is refused unless it asks for ``--reuse-port``) and hands one to each worker. Each
worker loads the configuration itself (secrets never cross a process boundary) and serves its
socket (:mod:`bridge.worker`).

The supervisor starts each worker as a fresh interpreter (:mod:`bridge.worker`: no state is
inherited, and only its own socket and its end of a pipe are passed), restarts one that
dies unexpectedly (a crash loop of more than ``MAX_RESTARTS`` in ``RESTART_WINDOW`` seconds
stops the whole server instead), forwards SIGTERM and SIGINT to them, and exits with the worst
of their exit codes. It also gives the run a fresh ``PROMETHEUS_MULTIPROC_DIR`` (unless one is
set already), so that whichever worker answers ``/metrics`` reports the sum over all of them,
and removes it at the end.

Workers are started with ``subprocess``, not ``multiprocessing``: they share no semaphore or
shared memory, so ``multiprocessing``'s resource tracker (a process of its own that ``spawn``
always starts) would watch nothing. A restarted worker counts itself in
``bridge_worker_restarts_total``, so the supervisor needs no metrics library either.

SIGHUP reloads. The check validates the configuration file (and every secret it names);
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

import contextlib
import glob
import json
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from bridge.errors import ListenError
from bridge.listen import bind_sockets
from bridge.processes import SUPERVISOR_TITLE, set_title

if TYPE_CHECKING:
    from bridge.settings.root import Settings

log = logging.getLogger("bridge")

MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
#: what the supervisor sends a worker that a reload replaces
RETIRE_SIGNAL = signal.SIGUSR2
#: least seconds a replaced worker keeps answering (with ``Connection: close``) before it stops
RETIRE_SECONDS = 1.0
#: seconds a reload's new workers get to serve before the reload is abandoned
RELOAD_TIMEOUT = 60.0
#: what a worker writes to its pipe once it serves
SERVING = b"serving"
#: prometheus_client's multiprocess directory variable (read by bridge.metrics in the workers)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


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


@dataclass(frozen=True)
class Job:
    """What a worker (or the configuration check) is told on its command line."""

    path: Path
    host: str | None
    port: int | None
    slot: int = 0
    supervisor: int = 0
    #: descriptors passed to the worker: its listening socket and the pipe it reports on
    socket: int = -1
    ready: int = -1
    #: a replacement for a worker that died (it counts itself in the restarts)
    restart: bool = False

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "path": str(self.path)})

    @classmethod
    def from_json(cls, text: str) -> Job:
        fields = json.loads(text)
        return cls(**{**fields, "path": Path(fields["path"])})


def _command(job: Job, what: str) -> list[str]:
    return [sys.executable, "-c", "from bridge.worker import main; main()", what, job.to_json()]


def _environment() -> dict[str, str]:
    """The supervisor's environment, with this package importable from where it was found."""
    here = str(Path(__file__).resolve().parents[1])
    paths = [here, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


class ConfigProblems(Exception):
    """The configuration check's problems; ``invalid``: the file itself is invalid (rather than
    refused for the address it would serve on)."""

    def __init__(self, problems: list[str], *, invalid: bool) -> None:
        super().__init__("; ".join(problems))
        self.problems, self.invalid = problems, invalid


def check_config(path: Path, host: str | None, port: int | None) -> dict[str, Any]:
    """Run the full configuration check in a short-lived child; what it found, or raise
    :class:`ConfigProblems`."""
    job = Job(path, host, port)
    done = subprocess.run(  # noqa: S603 - this interpreter, this package
        _command(job, "check"), env=_environment(), stdout=subprocess.PIPE, check=False
    )
    return _found(done.stdout, done.returncode)


def _found(output: bytes, code: int | None) -> dict[str, Any]:
    """The check's answer (its last line), or raise :class:`ConfigProblems`."""
    try:
        found: dict[str, Any] = json.loads(output.decode().splitlines()[-1])
    except (IndexError, ValueError):
        raise ConfigProblems(
            [f"the configuration check exited with {code}"], invalid=True
        ) from None
    if "problems" in found:
        raise ConfigProblems(list(found["problems"]), invalid=bool(found["invalid"]))
    return found


def _start_checking(path: Path, host: str | None, port: int | None, slot: int) -> _Worker:
    """Start a worker that checks the configuration before anything else, tells what it found
    (:func:`_answer`), then waits for its socket (:func:`_hand_socket`) and reports on the
    same connection once it serves."""
    ours, theirs = socket.socketpair()
    job = Job(path, host, port, slot, os.getpid(), -1, theirs.fileno())
    try:
        popen = subprocess.Popen(  # noqa: S603 - this interpreter, this package
            _command(job, "first"), env=_environment(), pass_fds=(theirs.fileno(),)
        )
    finally:
        theirs.close()
    return _Worker(_Process(popen, f"worker-{slot}"), slot, ours.detach())


def _answer(worker: _Worker) -> dict[str, Any]:
    """What a worker started by :func:`_start_checking` found, or raise
    :class:`ConfigProblems` (once it has exited)."""
    assert worker.ready is not None
    answer = b""
    while not answer.endswith(b"\n"):
        try:
            chunk = os.read(worker.ready, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            break
        answer += chunk
    popen = worker.process.popen
    try:
        return _found(answer, popen.poll() if answer else popen.wait())
    except ConfigProblems:
        worker.process.close()
        worker.close_ready()
        raise


def _hand_socket(worker: _Worker, sock: socket.socket | None) -> None:
    """Give the first worker its listening socket; None tells it to stop instead."""
    assert worker.ready is not None
    with contextlib.suppress(OSError), socket.socket(fileno=os.dup(worker.ready)) as link:
        if sock is None:
            link.shutdown(socket.SHUT_WR)
        else:
            socket.send_fds(link, [b"socket"], [sock.fileno()])


class _Process:
    """A worker process: its exit status, and a descriptor readable once it has exited."""

    def __init__(self, popen: subprocess.Popen[bytes], name: str) -> None:
        self.popen, self.name, self.pid = popen, name, popen.pid
        self.sentinel: int | None = None
        with contextlib.suppress(AttributeError, OSError):  # not Linux: polled instead
            self.sentinel = os.pidfd_open(popen.pid)

    @property
    def exitcode(self) -> int | None:
        """None while it runs; its exit status, or minus the signal that killed it."""
        return self.popen.poll()

    def close(self) -> None:
        self.popen.wait()
        if self.sentinel is not None:
            os.close(self.sentinel)
            self.sentinel = None


@dataclass(eq=False)
class _Worker:
    process: _Process
    slot: int
    #: the supervisor's end of the pipe on which the worker says it serves (None once closed)
    ready: int | None
    serving: bool = False
    reaped: bool = False

    def close_ready(self) -> None:
        if self.ready is not None:
            os.close(self.ready)
            self.ready = None


class _Supervisor:
    def __init__(
        self,
        path: Path,
        host: str | None,
        port: int | None,
        sockets: list[socket.socket],
        address: tuple[str, int],
        started: list[_Worker],
    ) -> None:
        self._path, self._host, self._port = path, host, port
        self._sockets = sockets
        self._address = address  # server.host and server.port as bound
        self._current = list(started)  # started (and given their sockets) already
        self._pending: list[_Worker] | None = None  # a reload's new generation, starting
        self._pending_since = 0.0
        self._others: list[_Worker] = []  # retired or abandoned: never restarted
        self._stopping = False
        self._reload_wanted = False
        self._restarts: deque[float] = deque()
        self.failed = False

    def _spawn(self, slot: int, *, restart: bool = False) -> _Worker:
        reader, writer = os.pipe()
        sock = self._sockets[slot].fileno()
        job = Job(self._path, self._host, self._port, slot, os.getpid(), sock, writer, restart)
        try:
            popen = subprocess.Popen(  # noqa: S603 - this interpreter, this package
                _command(job, "serve"), env=_environment(), pass_fds=(sock, writer)
            )
        finally:
            os.close(writer)
        worker = _Worker(_Process(popen, f"worker-{slot}"), slot, reader)
        if self._stopping:  # a stop came while it started
            self._signal(worker, signal.SIGTERM)
        return worker

    def _signal(self, worker: _Worker, signum: int) -> None:
        if worker.process.exitcode is None:
            os.kill(worker.process.pid, signum)

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
        for slot in range(len(self._current), len(self._sockets)):
            self._current.append(self._spawn(slot))
        while any(not w.reaped for w in self._all()):
            waiting = [w.process.sentinel for w in self._all() if not w.reaped]
            waiting += [w.ready for w in self._all() if not w.serving]
            select.select([fd for fd in waiting if fd is not None], [], [], 0.5)
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
            if worker.serving or worker.ready is None:
                continue
            if not select.select([worker.ready], [], [], 0)[0]:
                continue
            with contextlib.suppress(OSError):  # it died first (an empty read); _reap sees it
                worker.serving = os.read(worker.ready, len(SERVING)) == SERVING
            worker.close_ready()

    def _reap(self) -> None:
        for worker in self._all():
            process = worker.process
            if worker.reaped or process.exitcode is None:
                continue
            worker.reaped = True
            process.close()
            worker.close_ready()
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
        self._current[self._current.index(worker)] = self._spawn(worker.slot, restart=True)

    def _begin_reload(self) -> None:
        try:
            found = check_config(self._path, self._host, self._port)
        except ConfigProblems as exc:
            if exc.invalid:
                log.error(
                    "SIGHUP: %s refused, the running configuration stays: %d problem(s): %s",
                    self._path, len(exc.problems), "; ".join(exc.problems),
                )  # fmt: skip
            else:
                log.error("SIGHUP: %s refused: %s", self._path, "; ".join(exc.problems))
            return
        listening = self._sockets[0].getsockname()[:2]
        changed = [
            f"server.{key} ({was} -> {now})"
            for key, was, now in zip(
                ("host", "port"), self._address, (found["host"], found["port"]), strict=True
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

    def _exit_status(self, process: _Process) -> int:
        """0 for a clean stop; a worker killed by the SIGTERM we sent (it was still starting
        up, before its handlers were in place) stopped cleanly too."""
        code = process.exitcode or 0
        if self._stopping and code == -signal.SIGTERM:
            return 0
        return abs(code)


def _mark_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (Redis up, breaker state) from the shared metrics."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:  # what prometheus_client.multiprocess.mark_process_dead removes: its files
        for path in glob.glob(os.path.join(glob.escape(directory), f"gauge_live*_{pid}.db")):
            with contextlib.suppress(OSError):
                os.remove(path)


def serve(
    path: Path, *, host: str | None, port: int | None, workers: int, share: bool = False
) -> int:
    """Run the gateway until it is stopped; its exit status. ``share``: ``--reuse-port``.

    Raises :class:`ConfigProblems` when the configuration is refused, before anything starts.
    """
    from bridge.log import configure_logging

    set_title(SUPERVISOR_TITLE)
    created = None
    if not os.environ.get(MULTIPROC_ENV):
        created = tempfile.mkdtemp(prefix="bridge-metrics-")
        os.environ[MULTIPROC_ENV] = created  # inherited by the workers
    sockets: list[socket.socket] = []
    try:
        # every worker checks the configuration as it starts (the check needs the schema that
        # it loads anyway); the first one's answer says where to listen
        started = [_start_checking(path, host, port, slot) for slot in range(workers)]
        try:
            found = _answer(started[0])
        except ConfigProblems:
            for worker in started[1:]:
                _hand_socket(worker, None)
                worker.process.close()
                worker.close_ready()
            raise
        configure_logging(found["log_format"], found["log_level"])
        try:
            sockets = bind_sockets(
                found["host"], found["port"], workers, backlog=found["backlog"], share=share
            )
        except ListenError as exc:
            for worker in started:
                _hand_socket(worker, None)
                worker.process.close()
                worker.close_ready()
            print(f"bridge: {exc}", file=sys.stderr)
            return 2
        _hand_socket(started[0], sockets[0])
        for worker in started[1:]:
            try:
                _answer(worker)
            except ConfigProblems:  # the file changed meanwhile: it has exited, and is replaced
                continue
            _hand_socket(worker, sockets[worker.slot])
        address = (found["host"], found["port"])
        return _Supervisor(path, host, port, sockets, address, started).run()
    finally:
        for sock in sockets:
            sock.close()
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
            del os.environ[MULTIPROC_ENV]
