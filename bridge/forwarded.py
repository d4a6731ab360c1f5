"""RFC 7239 ``Forwarded``: the ``for=`` node of each hop, parsed strictly.

    Forwarded         = 1#forwarded-element
    forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
    forwarded-pair    = token "=" value
    value             = token / quoted-string

:func:`forwarded_for` reads every ``Forwarded`` line of a request (a proxy may append a line or
extend the last one; both mean the same list) and gives one entry per hop, left to right: the
``for`` value with its quoting undone (``192.0.2.43``, ``[2001:db8::17]:4711``, ``unknown``,
``_hidden``), or None for a hop that names no ``for``; the caller walks them from the right.
A header that breaks the grammar anywhere (an unclosed quote, an unquoted IPv6 address, a
parameter given twice in one hop) gives None for the whole list: nothing in it can be told
apart from the client's own words, so the caller counts the request by the proxy it trusts
(:class:`bridge.ratelimit.ClientAddresses`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\t\x20-\x7e\x80-\xff])*"'
_PAIR = re.compile(rf"[ \t]*({_TCHARS})=({_TCHARS}|{_QUOTED})[ \t]*")
_SEPARATOR = re.compile(r"[ \t]*([,;])[ \t]*|[ \t]*\Z")
_ESCAPE = re.compile(r"\\(.)")


def _parse(line: str, hops: list[str | None]) -> bool:
    """Append the ``for`` of each element of one header line; False when it breaks the grammar."""
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
                hops.append(element.get("for"))
            element = {}
            if separator.group(1) is None and at >= end:
                return True


def forwarded_for(lines: Sequence[str]) -> list[str | None] | None:
    """Every hop's ``for`` value, left to right; None if a line breaks RFC 7239's grammar."""
    hops: list[str | None] = []
    for line in lines:
        if not _parse(line, hops):
            return None
    return hops
