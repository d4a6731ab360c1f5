"""docs/openapi.yaml as data: the document and the operations it lists."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from tests.docs.gateway import SPEC_PATH

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return loaded


def documented_operations() -> set[tuple[str, str]]:
    """``(path, METHOD)`` of every operation in the document."""
    return {
        (path, method.upper())
        for path, item in spec()["paths"].items()
        for method in HTTP_METHODS
        if method in item
    }
