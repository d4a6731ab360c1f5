"""The limit: aiohttp's low-level server (no router, no middleware) answering constant JSON.

Nothing built on aiohttp can answer faster than its own ``web.Server`` with one handler that
returns prepared bytes, on the same event loop the gateway uses (uvloop when installed). The
benchmark reports the gateway's throughput as a share of this.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from bridge.processes import new_event_loop


def main() -> None:
    port, size = int(sys.argv[1]), int(sys.argv[2])
    body = ('{"token":"' + "x" * max(0, size - len('{"token":""}')) + '"}').encode()

    async def handler(request: web.BaseRequest) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async def serve() -> None:
        server = web.Server(handler)
        loop = asyncio.get_running_loop()
        await loop.create_server(server, "127.0.0.1", port, backlog=1024)
        await asyncio.Event().wait()  # until SIGTERM ends the process

    loop, _ = new_event_loop("auto")
    try:
        loop.run_until_complete(serve())
    finally:
        loop.close()


if __name__ == "__main__":
    main()
