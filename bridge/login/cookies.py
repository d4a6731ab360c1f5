"""Reading the login cookie from raw ``Cookie`` headers, refusing ambiguity.

aiohttp's ``request.cookies`` keeps one value when a name repeats. A browser sends a name twice
when cookies of that name exist for several paths or domains, which is also what a sibling
subdomain does to toss its own cookie in (cookie tossing). Picking one would let the tossed
cookie win, so two different values under our name are refused as an invalid token.
"""

from __future__ import annotations

from collections.abc import Iterable

from bridge.errors import TokenInvalid, TokenMissing


def read_cookie(headers: Iterable[str], name: str) -> str:
    """The value of cookie ``name``; :class:`TokenMissing` or :class:`TokenInvalid` if unusable."""
    found: str | None = None
    for header in headers:
        for pair in header.split(";"):
            key, sep, value = pair.partition("=")
            if not sep or key.strip() != name:
                continue
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            if not value:
                continue
            if found is not None and found != value:
                raise TokenInvalid(reason="duplicate_cookie")
            found = value
    if found is None:
        raise TokenMissing()
    return found
