"""The address a client is counted by: the TCP peer, or what trusted proxies say.

Client addresses are the TCP peer, unless the peer is one of ``trusted_proxies``: then
``X-Forwarded-For`` and RFC 7239 ``Forwarded`` (its ``for=`` nodes, :mod:`bridge.forwarded`)
are read from right to left and the first hop that is not a trusted proxy is the client (hops
to its left are the client's own words). When a request carries both and they name different
clients, one of them was written by the client, and which one cannot be told: it is counted by
the trusted peer. IPv6 clients are counted per ``ipv6_prefix`` network, since one subscriber
holds a whole /64. Forwarding headers from a peer that is not trusted are ignored, and the
first such request logs a warning (once), since it usually means a proxy is missing from
``trusted_proxies`` and every client behind it shares one count.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Sequence

from bridge.forwarded import forwarded_for as parse_forwarded

log = logging.getLogger("bridge.ratelimit")

#: at most this many forwarded hops are walked (all trusted: the last one is used)
MAX_FORWARDED_HOPS = 32

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse_ip(text: str) -> IPAddress | None:
    """An address from a peer or a forwarded hop (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``)."""
    text = text.strip()
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        if text.startswith("["):
            host = text[1:].partition("]")[0]
        elif text.count(":") == 1:
            host = text.partition(":")[0]
        else:
            return None
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class ClientAddresses:
    """Turns the TCP peer, ``X-Forwarded-For`` and ``Forwarded`` into the address a client is
    counted by."""

    def __init__(self, trusted_proxies: Sequence[IPNetwork] = (), *, ipv6_prefix: int = 64) -> None:
        self._trusted = tuple(trusted_proxies)
        self._ipv6_prefix = ipv6_prefix
        self._warned = False
        # parsing is most of the cost, and the same few proxies and clients come back: remember
        # (bounded) what each address text means
        self._hop = functools.lru_cache(maxsize=4096)(self._classify)

    def _classify(self, text: str) -> tuple[str | None, bool]:
        """(the count's key, is a trusted proxy) for an address text; (None, False) if none."""
        address = _parse_ip(text)
        if address is None:
            return None, False
        trusted = any(address in network for network in self._trusted)
        if isinstance(address, ipaddress.IPv4Address):
            return str(address), trusted
        return str(ipaddress.IPv6Network((address, self._ipv6_prefix), strict=False)), trusted

    def is_trusted(self, text: str) -> bool:
        """Whether an address text (a peer, or a forwarded hop) is one of the trusted proxies."""
        return bool(self._trusted) and self._hop(text.strip())[1]

    def resolve(
        self, peer: str | None, forwarded_for: Sequence[str] = (), forwarded: Sequence[str] = ()
    ) -> str:
        """The client of a request from ``peer`` with these ``X-Forwarded-For`` and
        ``Forwarded`` header lines."""
        if not self._trusted and peer and ":" not in peer:
            if (forwarded_for or forwarded) and not self._warned:
                self._warn(peer, forwarded_for, forwarded)
            return peer  # the common case, an IPv4 peer and no proxies: no parsing at all
        client, trusted = self._hop(peer) if peer else (None, False)
        if client is None:
            return "unknown"  # a unix socket: every client shares one count
        if not trusted:
            if (forwarded_for or forwarded) and not self._warned:
                self._warn(client, forwarded_for, forwarded)
            return client
        by_xff = by_forwarded = None
        if forwarded_for:
            by_xff = self._walk(client, [hop for line in forwarded_for for hop in line.split(",")])
        if forwarded:
            hops = parse_forwarded(forwarded)
            by_forwarded = client if hops is None else self._walk(client, hops)
        if by_forwarded is None:
            return by_xff or client
        if by_xff is None or by_xff == by_forwarded:
            return by_forwarded
        return client  # two headers, two answers: one is the client's own; count by the proxy

    def _walk(self, client: str, hops: Sequence[str | None]) -> str:
        """From the right: the first hop that is not a trusted proxy (``client`` is the peer)."""
        for hop in reversed(hops[-MAX_FORWARDED_HOPS:]):
            found, trusted = self._hop(hop.strip()) if hop else (None, False)
            if found is None:
                break  # garbage: count by the last proxy that we trust
            client = found
            if not trusted:
                break
        return client

    def _warn(self, peer: str, forwarded_for: Sequence[str], forwarded: Sequence[str]) -> None:
        self._warned = True
        headers = " and ".join(
            name
            for name, present in (("X-Forwarded-For", forwarded_for), ("Forwarded", forwarded))
            if present
        )
        log.warning(
            "a request from %s carries %s, but %s is not in rate_limits.trusted_proxies: the "
            "header is ignored and the request is counted by %s. If that is your proxy or load "
            "balancer, every client behind it shares one address limit: add its network to "
            "trusted_proxies (this is logged once)",
            peer, headers, peer, peer,
        )  # fmt: skip
