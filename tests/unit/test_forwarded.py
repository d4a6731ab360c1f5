"""RFC 7239 ``Forwarded``: each hop's ``for=``, and a malformed header as a whole refused."""

from __future__ import annotations

import pytest

from bridge.forwarded import forwarded_for


@pytest.mark.parametrize(
    ("lines", "hops"),
    [
        (["for=192.0.2.43"], ["192.0.2.43"]),
        # RFC 7239 section 4's examples
        (['for="_gazonk"'], ["_gazonk"]),
        (['For="[2001:db8:cafe::17]:4711"'], ["[2001:db8:cafe::17]:4711"]),
        (["for=192.0.2.60;proto=http;by=203.0.113.43"], ["192.0.2.60"]),
        (["for=192.0.2.43, for=198.51.100.17"], ["192.0.2.43", "198.51.100.17"]),
        # a proxy may add a line instead of extending the last one: the same list
        (["for=192.0.2.43", "for=198.51.100.17"], ["192.0.2.43", "198.51.100.17"]),
        # optional whitespace around the separators, empty list elements ignored
        (["for=192.0.2.43 ; proto=https ,, for=198.51.100.17"], ["192.0.2.43", "198.51.100.17"]),
        # a hop that names no client, and an obfuscated or unknown one, are kept as hops
        (["proto=https;by=203.0.113.43, for=unknown"], [None, "unknown"]),
        # quoted-pair
        (['for="192.0.2.\\43"'], ["192.0.2.43"]),
        ([""], []),
        ([], []),
    ],
)
def test_each_hop_gives_its_for_value(lines: list[str], hops: list[str | None]) -> None:
    assert forwarded_for(lines) == hops


@pytest.mark.parametrize(
    "lines",
    [
        ['for="192.0.2.43'],  # unclosed quote
        ['for="192.0.2.43, for=198.51.100.17'],  # ... which would swallow the next hop
        ["for=2001:db8::1"],  # IPv6 must be quoted
        ["for=192.0.2.43;for=198.51.100.17"],  # twice in one hop
        ["for=192.0.2.43 198.51.100.17"],
        ["for"],
        ["=192.0.2.43"],
        ["for=192.0.2.43", "garbage"],  # one broken line breaks the list
        ['for="a\x00b"'],
    ],
)
def test_a_header_that_breaks_the_grammar_gives_no_hops(lines: list[str]) -> None:
    assert forwarded_for(lines) is None
