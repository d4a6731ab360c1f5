"""What the supervisor and its workers are, as the operating system sees them.

* Titles: ``ps`` and ``/proc/PID/cmdline`` show ``bridge: supervisor`` and ``bridge: worker N``
  (N is the worker's slot, as in the supervisor's log lines), not a Python command line.
* A worker never outlives its supervisor. The worker asks the kernel for ``SIGKILL`` when the
  process that started it dies (Linux's ``PR_SET_PDEATHSIG``), then checks that its parent is
  still the supervisor, in case the supervisor died before the request was made. The kernel
  delivers the signal whatever the worker is doing (starting, blocked, busy in a long request),
  with no descriptor to hand over through ``spawn`` and nothing the worker's event loop must
  notice, so a supervisor killed with ``SIGKILL`` or by the OOM killer leaves no worker
  holding the port. Requests in flight at that moment are cut off: without its supervisor,
  nothing would tell a worker to drain or replace it anyway.
* The event loop a worker runs: uvloop's when it is installed, unless asked otherwise.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING

import setproctitle

if TYPE_CHECKING:
    import asyncio

#: ``prctl`` option: the signal this process gets when its parent dies (linux/prctl.h)
PR_SET_PDEATHSIG = 1


def set_title(title: str) -> None:
    """Show the process as ``title`` in ps and /proc/PID/cmdline."""
    setproctitle.setproctitle(title)


SUPERVISOR_TITLE = "bridge: supervisor"


def worker_title(slot: int) -> str:
    return f"bridge: worker {slot}"


def die_with_parent(parent: int) -> bool:
    """Have this process killed when its parent dies; exit at once if ``parent`` (the pid of
    the process that started this one) is already gone. False where the kernel cannot do it
    (not Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes.util  # a worker's, not the supervisor's

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return False
    if os.getppid() != parent:  # it died before the request: nobody will send the signal
        os._exit(1)
    return True


def new_event_loop(choice: str) -> tuple[asyncio.AbstractEventLoop, str]:
    """uvloop's loop for ``auto`` (when installed) and ``uvloop``; asyncio's otherwise."""
    import asyncio  # a worker's, not the supervisor's

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
