"""Strict readers for the fields of a vendor's JSON answer: anything unexpected is a 502."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.errors import VendorBadResponse


def malformed(what: str) -> VendorBadResponse:
    return VendorBadResponse(reason=f"malformed_{what}")


def optional_str(data: Mapping[str, Any], field: str) -> str | None:
    value = data.get(field)
    if value is None or isinstance(value, str):
        return value
    raise malformed(field)


def id_string(value: Any, field: str = "id") -> str:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise malformed(field)
