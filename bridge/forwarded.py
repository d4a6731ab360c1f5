"""RFC 7239 ``Forwarded``: each hop's parameters (``for``, ``proto``, ``host``), parsed strictly.

    Forwarded         = 1#forwarded-element
    forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
    forwarded-pair    = token "=" value
    value             = token / quoted-string

:func:`forwarded_elements` reads every ``Forwarded`` line of a request (a proxy may append a line
or extend the last one; both mean the same list) and gives one mapping per hop, left to right,
of its parameters (names in lower case, values with their quoting undone).
:func:`forwarded_for` gives each hop's ``for`` value (``192.0.2.43``, ``[2001:db8::17]:4711``,
``unknown``, ``_hidden``), or None for a hop that names no ``for``; the caller walks them from
the right.
A header that breaks the grammar anywhere (an unclosed quote, an unquoted IPv6 address, a
parameter given twice in one hop) gives None for the whole list: nothing in it can be told
apart from the client's own words, so the caller counts the request by the proxy it trusts
(:class:`bridge.addresses.ClientAddresses`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: a request carrying any of these came through a proxy (CDNs name the client in their own)
PROXY_HEADERS = (
    "Forwarded",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Proto",
    "X-Real-IP",
    "Via",
    "X-Client-IP",
    "True-Client-IP",
    "CF-Connecting-IP",
    "Fastly-Client-IP",
    "X-Cluster-Client-IP",
)

_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\t\x20-\x7e\x80-\xff])*"'
_PAIR = re.compile(rf"[ \t]*({_TCHARS})=({_TCHARS}|{_QUOTED})[ \t]*")
_SEPARATOR = re.compile(r"[ \t]*([,;])[ \t]*|[ \t]*\Z")
_ESCAPE = re.compile(r"\\(.)")


def _parse(line: str, hops: list[dict[str, str]]) -> bool:
    """Append each element of one header line; False when it breaks the grammar."""
    at, end = 0, len(line)
    element: dict[str, str] = {}
    while True:
        pair = _PAIR.match(line, at)
        if pair is not None:
            name, value = pair.group(1).lower(), pair.group(2)
            if name in element:
                return False
            if value.startswith('"'):
                value = _ESCAPE.sub(r"\1", value[1:-1])
            element[name] = value
            at = pair.end()
        separator = _SEPARATOR.match(line, at)
        if separator is None:
            return False
        at = separator.end()
        if separator.group(1) != ";":  # "," or the end: the element is complete
            if element:  # empty list elements are ignored (RFC 9110, section 5.6.1)
                hops.append(element)
            element = {}
            if separator.group(1) is None and at >= end:
                return True


def forwarded_elements(lines: Sequence[str]) -> list[dict[str, str]] | None:
    """Every hop's parameters, left to right; None if a line breaks RFC 7239's grammar."""
    hops: list[dict[str, str]] = []
    for line in lines:
        if not _parse(line, hops):
            return None
    return hops


def forwarded_for(lines: Sequence[str]) -> list[str | None] | None:
    """Every hop's ``for`` value, left to right; None if a line breaks RFC 7239's grammar."""
    hops = forwarded_elements(lines)
    return None if hops is None else [hop.get("for") for hop in hops]
