"""The baseline: a bare aiohttp app that answers a JSON object of a given size.

It runs on the same event loop the gateway picks (``server.event_loop: auto``: uvloop when it is
installed), so that the ratio compares the gateway's work, not two event loops.
"""

from __future__ import annotations

import sys

from aiohttp import web

from bridge.processes import new_event_loop


def main() -> None:
    port, size = int(sys.argv[1]), int(sys.argv[2])
    body = {"token": "x" * max(0, size - len('{"token": ""}'))}

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    loop, _ = new_event_loop("auto")
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, loop=loop)


if __name__ == "__main__":
    main()
