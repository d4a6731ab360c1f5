"""A drain period on SIGTERM, so that stopping a gateway under load loses no request.

aiohttp's own graceful shutdown stops listening and closes idle keep-alive connections at
once; a request a client is sending on such a connection at that moment is lost (a reset),
and requests still routed to the instance are refused. With ``server.drain_seconds`` > 0 a
SIGTERM first starts a drain instead:

* ``/readyz`` answers 503 ``draining``, so a load balancer that probes it stops routing here;
* every answer says ``Connection: close``, so clients leave their keep-alive connections
  after their current request instead of reusing them;
* everything is still served;

and after ``drain_seconds`` the usual graceful shutdown runs (in-flight requests finish). In
Kubernetes this is the ``preStop`` sleep built in; keep ``terminationGracePeriodSeconds``
above it. SIGINT (Ctrl+C) stops at once, as before.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web
from aiohttp.web_runner import GracefulExit

from bridge import keys

log = logging.getLogger("bridge")


class Drain:
    """Whether this process is draining (set once, on SIGTERM)."""

    def __init__(self) -> None:
        self.active = False


def _shut_down() -> None:
    raise GracefulExit()  # what aiohttp's own SIGTERM handler raises


def drain_on_sigterm(app: web.Application, seconds: float) -> None:
    """Make SIGTERM drain for ``seconds`` before the graceful shutdown (``web.run_app`` only)."""
    if seconds <= 0:
        return
    drain = app[keys.DRAIN]  # bridge.middlewares closes connections while it is active

    async def take_over_sigterm(app: web.Application) -> None:
        # runs after run_app installed its handlers, so this one replaces its SIGTERM handler
        loop = asyncio.get_running_loop()

        def start() -> None:
            if drain.active:
                return
            drain.active = True
            log.info("SIGTERM: draining for %.1fs, then shutting down", seconds)
            loop.call_later(seconds, _shut_down)

        loop.add_signal_handler(signal.SIGTERM, start)

    app.on_startup.append(take_over_sigterm)
