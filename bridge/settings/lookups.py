"""``lookups``: the support-tool accounts the staff lookups may ask (API credentials, not
widget secrets). Each type's own model lives with its lookup (:mod:`bridge.lookups`); what
they all share is here: the base URL (``https`` outside loopback), the deadline and the
resilience knobs of :class:`~bridge.vendors.client.VendorClient`.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints

from bridge.settings.base import HttpUrl, Model

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

#: a ``lookups`` entry's name: the member's key in answers, a path segment, a metrics label
LookupName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
#: an identifier a vendor gave us (app id, key id, client id, website id): printable, no spaces
PlainId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,254}$")]


def _https_outside_loopback(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" and (parts.hostname or "") not in LOOPBACK_HOSTS:
        raise ValueError("must be an https:// URL (http:// only for 127.0.0.1 or localhost)")
    return value


#: a vendor API's base URL: credentials travel over it, so https unless on this machine
ApiUrl = Annotated[HttpUrl, AfterValidator(_https_outside_loopback)]


class LookupSettings(Model):
    """What every ``lookups`` entry has besides its ``type`` and credentials."""

    base_url: ApiUrl
    #: overall deadline of one call, retries included (seconds)
    deadline: float = Field(default=4.0, gt=0, le=60)
    #: retries for 429, 502, 503, 504 and connection errors, within the deadline
    max_retries: int = Field(default=2, ge=0, le=10)
    #: larger answers are refused (``vendor_bad_response``)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)
    #: consecutive failures that open the circuit breaker
    breaker_failures: int = Field(default=5, ge=1, le=1000)
    #: seconds the open breaker answers ``vendor_circuit_open`` before trying again
    breaker_cooldown: float = Field(default=15.0, gt=0, le=3600)
