"""The ``source`` of a Zendesk lookup's answer, as the staff endpoints report it."""

from __future__ import annotations

from typing import Any

from bridge.errors import Source
from bridge.vendors.singleflight import Found


def answered_by(found: Found[Any]) -> Source:
    """``cache``, or ``zendesk`` when Zendesk was asked (the lookups' client is Zendesk's)."""
    return "cache" if found.source == "cache" else "zendesk"
