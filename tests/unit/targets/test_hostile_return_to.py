"""Hostile ``return_to`` values: every one is ``BadReturnTo`` (400 ``bad_return_to``), never a
redirect or a form that sends the browser off the help center.

``return_to`` is where Zendesk sends the browser after the sign-in, so an open redirect here
would hand the visitor, freshly signed in, to any site. The families follow the ways URL
parsers and browsers disagree (WHATWG URL Standard vs RFC 3986; OWASP's "Unvalidated Redirects
and Forwards" cheat sheet):

* ``userinfo``: ``https://allowed@evil`` and its variants: the part before ``@`` is a user
  name to a browser but looks like the host to a reader (or a naive ``startswith`` check);
* ``backslash``: browsers read ``\\`` as ``/`` in special URLs, Python's parser does not;
* ``relative``: protocol-relative (``//evil``) and scheme-less forms, which a browser resolves
  against the current page;
* ``scheme``: ``javascript:``, ``data:``, ``vbscript:``, ``file:`` and other non-http(s) schemes,
  in any case and with any padding;
* ``control``: control characters, whitespace, bidi and line separators, which browsers strip
  or which split a header;
* ``lookalike``: hosts that look like an allowed one (suffix, prefix, sub-domains, other TLDs,
  homoglyphs, punycode, trailing dot, other ports, numeric and IP hosts, percent-encoding).

Each value is refused by :func:`bridge.targets.zendesk_sso.check_return_to` and, through
HTTP, by ``GET /v1/sso/{name}`` and ``GET /v1/sso/{name}/logout`` (``tests/api/test_sso.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bridge.errors import BadReturnTo
from bridge.targets.zendesk_sso import check_return_to

HOSTS: list[tuple[str, int | None]] = [("acme.zendesk.com", None), ("help.acme.com", None)]


@dataclass(frozen=True)
class Case:
    family: str
    id: str
    value: str


def _cases(family: str, *pairs: tuple[str, str]) -> list[Case]:
    return [Case(family, f"{family}-{name}", value) for name, value in pairs]


CASES: list[Case] = [
    *_cases(
        "userinfo",
        ("allowed-at-evil", "https://acme.zendesk.com@evil.example/"),
        ("allowed-port-at-evil", "https://acme.zendesk.com:443@evil.example/"),
        ("evil-at-allowed", "https://evil.example@acme.zendesk.com/"),
        ("user-password", "https://user:password@acme.zendesk.com/hc"),
        ("empty-user", "https://@acme.zendesk.com/hc"),
        ("two-ats", "https://acme.zendesk.com@help.acme.com@evil.example/"),
        ("encoded-at", "https://acme.zendesk.com%40evil.example/"),
        ("http-allowed-at-evil", "http://help.acme.com@evil.example"),
    ),
    *_cases(
        "backslash",
        ("scheme-backslashes", "https:\\\\evil.example/"),
        ("mixed-slashes", "https:/\\evil.example/"),
        ("host-then-backslash", "https://evil.example\\.acme.zendesk.com/"),
        ("backslash-at", "https://acme.zendesk.com\\@evil.example/"),
        ("path-backslash", "https://acme.zendesk.com/hc\\..\\x"),
        ("leading-backslashes", "\\\\evil.example/"),
        ("slash-backslash", "/\\evil.example/"),
    ),
    *_cases(
        "relative",
        ("protocol-relative", "//evil.example/"),
        ("protocol-relative-allowed", "//acme.zendesk.com/hc"),
        ("triple-slash", "///evil.example/"),
        ("scheme-less-host", "acme.zendesk.com/hc/en-us"),
        ("scheme-less-evil", "evil.example"),
        ("absolute-path", "/hc/en-us"),
        ("query-only", "?next=https://evil.example"),
        ("fragment-only", "#https://evil.example"),
        ("empty", ""),
        ("scheme-without-slashes", "https:acme.zendesk.com/hc"),
        ("scheme-one-slash", "https:/acme.zendesk.com/hc"),
        ("scheme-three-slashes", "https:///acme.zendesk.com/hc"),
        ("host-port-only", "acme.zendesk.com:443"),
    ),
    *_cases(
        "scheme",
        ("javascript", "javascript:alert(document.domain)"),
        ("javascript-upper", "JavaScript:alert(1)"),
        ("javascript-authority", "javascript://acme.zendesk.com/%0aalert(1)"),
        ("javascript-entity", "javascript&colon;alert(1)"),
        ("data-html", "data:text/html,<script>alert(1)</script>"),
        ("data-base64", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="),
        ("vbscript", "vbscript:msgbox(1)"),
        ("file", "file:///etc/passwd"),
        ("ftp-allowed-host", "ftp://acme.zendesk.com/hc"),
        ("websocket", "wss://acme.zendesk.com/hc"),
        ("blob", "blob:https://acme.zendesk.com/1234"),
        ("mailto", "mailto:someone@acme.zendesk.com"),
        ("httpx", "httpx://acme.zendesk.com/"),
    ),
    *_cases(
        "control",
        ("crlf-header", "https://acme.zendesk.com/hc\r\nSet-Cookie: a=b"),
        ("lf", "https://acme.zendesk.com/\nhc"),
        ("nul-in-host", "https://evil.example\x00.acme.zendesk.com/"),
        ("tab-in-scheme", "java\tscript:alert(1)"),
        ("tab-in-host", "https://acme.zen\tdesk.com/"),
        ("newline-in-scheme", "ht\ntps://evil.example/"),
        ("leading-space", " javascript:alert(1)"),
        ("leading-space-allowed", " https://acme.zendesk.com/"),
        ("trailing-space", "https://acme.zendesk.com/ "),
        ("inner-space", "https://acme.zendesk.com /hc"),
        ("del", "https://acme.zendesk.com/\x7f"),
        ("c1-next-line", "https://acme.zendesk.com/\x85"),
        ("line-separator", "https://acme.zendesk.com/\u2028"),
        ("bidi-override", "https://acme.zendesk.com/\u202eelpmaxe.live"),
        ("bom", "\ufeffhttps://acme.zendesk.com/"),
        ("form-feed", "https://acme.zendesk.com\x0c.evil.example/"),
    ),
    *_cases(
        "lookalike",
        ("allowed-as-subdomain", "https://acme.zendesk.com.evil.example/"),
        ("no-dot", "https://acmezendesk.com/"),
        ("prefix", "https://evil-acme.zendesk.com/"),
        ("other-subdomain", "https://evil.zendesk.com/"),
        ("deeper-subdomain", "https://evil.acme.zendesk.com/"),
        ("parent-domain", "https://acme.com/"),
        ("other-tld", "https://acme.zendesk.co/"),
        ("cyrillic-a", "https://\u0430cme.zendesk.com/"),
        ("fullwidth", "https://\uff41\uff43\uff4d\uff45.zendesk.com/"),
        ("punycode", "https://xn--cme-8cd.zendesk.com/"),
        ("trailing-dot", "https://acme.zendesk.com./"),
        ("other-port", "https://acme.zendesk.com:8443/"),
        ("port-zero", "https://acme.zendesk.com:0/"),
        ("port-too-large", "https://acme.zendesk.com:99999/"),
        ("port-twice", "https://acme.zendesk.com:443:443/"),
        ("port-not-a-number", "https://acme.zendesk.com:https/"),
        ("http-on-https-port", "http://acme.zendesk.com:443/"),
        ("loopback", "https://127.0.0.1/"),
        ("decimal-ip", "https://2130706433/"),
        ("ipv6", "https://[::1]/"),
        ("broken-ipv6", "https://[acme.zendesk.com/"),
        ("percent-dot", "https://acme%2ezendesk.com/"),
        ("evil-then-fragment", "https://evil.example#.acme.zendesk.com"),
        ("evil-then-query", "https://evil.example?.acme.zendesk.com"),
        ("evil-then-path", "https://evil.example/acme.zendesk.com"),
        ("too-long", "https://acme.zendesk.com/" + "a" * 2048),
    ),
]

#: what must still work: Zendesk's own return_to values, on both listed hosts
ACCEPTED = [
    "https://acme.zendesk.com/hc/en-us",
    "https://acme.zendesk.com/hc/en-us/articles/360001?page=2#comments",
    "https://help.acme.com/hc/en-us/requests/new",
    "https://acme.zendesk.com:443/agent/",
    "http://acme.zendesk.com/hc",
    "https://ACME.Zendesk.com/hc",
    "https://acme.zendesk.com",
    "https://acme.zendesk.com/hc/en-us?return_to=https%3A%2F%2Fevil.example",
]


def test_the_table_is_large_every_family_has_cases_and_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(set(ids)) == len(ids)
    families = {case.family for case in CASES}
    assert families == {"userinfo", "backslash", "relative", "scheme", "control", "lookalike"}
    assert len(CASES) >= 80


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_return_to_is_refused(case: Case) -> None:
    with pytest.raises(BadReturnTo) as raised:
        check_return_to(case.value, HOSTS)
    assert raised.value.status == 400
    assert raised.value.code == "bad_return_to"


@pytest.mark.parametrize("value", ACCEPTED)
def test_zendesks_own_return_to_values_are_accepted_unchanged(value: str) -> None:
    assert check_return_to(value, HOSTS) == value


def test_an_explicit_port_is_matched_exactly() -> None:
    hosts: list[tuple[str, int | None]] = [("127.0.0.1", 8080)]
    assert check_return_to("http://127.0.0.1:8080/hc", hosts) == "http://127.0.0.1:8080/hc"
    for other in ("http://127.0.0.1/hc", "http://127.0.0.1:8081/hc", "https://127.0.0.1/hc"):
        with pytest.raises(BadReturnTo):
            check_return_to(other, hosts)
