"""Every ``web.AppKey`` of the application, declared once.

Handlers and middlewares read typed state through these keys; ``create_app`` (in ``app.py``)
and the ``cleanup_ctx`` generators it installs are the only places that set them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from bridge.cache import Cache
from bridge.metrics import Metrics
from bridge.settings import Settings
from bridge.targets import Signer
from bridge.upstream import Verifier

if TYPE_CHECKING:  # bridge.staff reads these keys, so it cannot be imported from here
    from bridge.drain import Drain
    from bridge.ratelimit import RateLimits
    from bridge.records import RequestRecords
    from bridge.staff import StaffServices

SETTINGS = web.AppKey("settings", Settings)
#: the one outgoing HTTP session, for key sets and vendor APIs
HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
VERIFIER = web.AppKey("verifier", Verifier)
SIGNERS = web.AppKey("signers", dict[str, Signer])
#: the visitor cache (Redis or in-process)
CACHE = web.AppKey("cache", Cache)
#: the Prometheus metrics (absent when ``metrics.enabled`` is false)
METRICS = web.AppKey("metrics", Metrics)
#: staff auth and the Zendesk lookup services (set by ``bridge.staff``)
STAFF: web.AppKey[StaffServices] = web.AppKey("staff")
#: the abuse limits (set by ``bridge.ratelimit.setup_rate_limits``)
RATE_LIMITS: web.AppKey[RateLimits] = web.AppKey("rate_limits")
#: set on SIGTERM while the process drains (``bridge.drain``)
DRAIN: web.AppKey[Drain] = web.AppKey("drain")
#: per-request records and audit lines, written in batches (``bridge.records``)
RECORDS: web.AppKey[RequestRecords] = web.AppKey("records")
