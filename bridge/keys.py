"""Every ``web.AppKey`` of the application, declared once.

Handlers and middlewares read typed state through these keys; ``create_app`` (in ``app.py``)
is the only place that sets them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from bridge.cache import Cache
    from bridge.settings import Settings
    from bridge.targets import Signer
    from bridge.upstream import Verifier

SETTINGS = web.AppKey["Settings"]("settings")
HTTP_SESSION = web.AppKey(
    "http_session", aiohttp.ClientSession
)  #: the one outgoing HTTP session, for key sets and vendor APIs
VERIFIER = web.AppKey["Verifier"]("verifier")
SIGNERS = web.AppKey["dict[str, Signer]"]("signers")
CACHE = web.AppKey["Cache"]("cache")  #: the visitor cache (Redis or in-process)
