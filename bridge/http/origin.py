"""Where the gateway is reached: the URL of a request as the browser sees it.

Every URL the gateway writes for a browser (the ``{return}`` of ``upstream.login_url``) comes
from :meth:`PublicUrls.of`:

* with ``server.public_url`` set, it starts with that, whatever the request's ``Host``, scheme
  or forwarding headers say;
* otherwise the request's own scheme and ``Host`` are used, unless the TCP peer is one of
  ``rate_limits.trusted_proxies``: then ``Forwarded: proto=...;host=...`` and
  ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` are believed with the walk the client address
  uses (:class:`bridge.addresses.ClientAddresses`): from the right, through the hops written
  by trusted proxies, up to the one that spoke to the browser. From a peer that is not trusted
  they are ignored. When ``Forwarded`` and ``X-Forwarded-*`` disagree, one of them was
  written by the client, so neither is believed.

A host (from ``Host`` or a believed forwarded host) that is not a valid host name, or a
believed forwarded scheme other than http and https, is refused with 400 ``bad_host``; it is
never echoed, in an answer or a log line.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence

from aiohttp import hdrs, web
from multidict import CIMultiDictProxy

from bridge.addresses import MAX_FORWARDED_HOPS, ClientAddresses
from bridge.errors import BadHost
from bridge.forwarded import forwarded_elements

_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
#: a DNS name (letters, digits, hyphens; underscores as some internal names have), an IPv4
#: address, or a bracketed IPv6 address; then an optional port
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[([0-9A-Fa-f:.]+)\])(?::([0-9]{{1,5}}))?")
_SCHEMES = ("http", "https")


def valid_host(host: str) -> bool:
    """Whether ``host`` is a host name, an IPv4 or a bracketed IPv6 address, with an optional
    port (1 to 65535)."""
    found = _HOST.fullmatch(host)
    if found is None or len(host) > 260:
        return False
    ipv6, port = found.group(1), found.group(2)
    if port is not None and not 0 < int(port) < 65536:
        return False
    if ipv6 is not None:
        try:
            ipaddress.IPv6Address(ipv6)
        except ValueError:
            return False
    return True


class PublicUrls:
    """The URL of a request as the browser sees it (see the module's docstring)."""

    def __init__(self, public_url: str | None, addresses: ClientAddresses) -> None:
        self._public_url = public_url
        self._addresses = addresses

    def of(self, request: web.BaseRequest) -> str:
        """This request's URL (path and query as received) as the browser reached it; raise
        :class:`BadHost` for a host or scheme that is not valid."""
        here = str(request.rel_url)
        if self._public_url is not None:
            return self._public_url + here
        scheme, host = request.scheme, request.headers.get(hdrs.HOST)
        peer = request.remote
        if peer is not None and self._addresses.is_trusted(peer):
            forwarded_scheme, forwarded_host = self._forwarded(request.headers)
            scheme = forwarded_scheme or scheme
            host = forwarded_host or host
        if host is None or not valid_host(host):
            raise BadHost(reason="bad_host")
        scheme = scheme.lower()
        if scheme not in _SCHEMES:
            raise BadHost(reason="bad_forwarded_proto")
        return f"{scheme}://{host}{here}"

    def _forwarded(self, headers: CIMultiDictProxy[str]) -> tuple[str | None, str | None]:
        """The scheme and host the outermost trusted proxy received, when the headers say."""
        by_header: tuple[str | None, str | None] = (None, None)
        lines = headers.getall(hdrs.FORWARDED, [])
        if lines:
            elements = forwarded_elements(lines)
            if elements is not None:  # a broken header names nothing we can tell apart
                by_header = self._walk_forwarded(elements)
        xff = [hop for line in headers.getall(hdrs.X_FORWARDED_FOR, []) for hop in line.split(",")]
        trusted = self._trusted_hops(xff)
        by_x = (
            _nth_from_right(headers.getall(hdrs.X_FORWARDED_PROTO, []), trusted),
            _nth_from_right(headers.getall(hdrs.X_FORWARDED_HOST, []), trusted),
        )
        found = []
        for a, b in zip(by_header, by_x, strict=True):
            if a is not None and b is not None and a.lower() != b.lower():
                return None, None  # two answers: one is the client's own
            found.append(a or b)
        return found[0], found[1]

    def _walk_forwarded(
        self, elements: Sequence[Mapping[str, str]]
    ) -> tuple[str | None, str | None]:
        """From the right, through the elements written by trusted proxies: each says what its
        proxy received; the last one read is from the proxy that spoke to the browser."""
        proto = host = None
        for element in reversed(elements[-MAX_FORWARDED_HOPS:]):
            proto = element.get("proto", proto)
            host = element.get("host", host)
            hop = element.get("for")
            if hop is None or not self._addresses.is_trusted(hop):
                break
        return proto, host

    def _trusted_hops(self, hops: Sequence[str]) -> int:
        """How many proxies (the trusted peer, then trusted hops from the right) relayed it."""
        count = 1
        for hop in reversed(hops[-MAX_FORWARDED_HOPS:]):
            if not hop.strip() or not self._addresses.is_trusted(hop):
                break
            count += 1
        return count


def _nth_from_right(lines: Sequence[str], proxies: int) -> str | None:
    """The value the outermost of ``proxies`` proxies wrote, each appending one (a list shorter
    than that: its first value, which the outermost one wrote and the others kept)."""
    values = [value.strip() for line in lines for value in line.split(",")]
    if not values:
        return None
    return values[max(0, len(values) - proxies)] or None
