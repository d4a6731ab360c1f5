"""The baseline: a bare aiohttp app that answers a JSON object of a given size."""

from __future__ import annotations

import sys

from aiohttp import web


def main() -> None:
    port, size = int(sys.argv[1]), int(sys.argv[2])
    body = {"token": "x" * max(0, size - len('{"token": ""}'))}

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
