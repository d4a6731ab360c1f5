"""Zendesk help center and Support: JWT single sign-on.

Zendesk sends a visitor who is not signed in to the *remote login URL* (``GET /v1/sso/{name}``)
with a ``return_to``; the gateway answers with a page that POSTs ``jwt`` and ``return_to`` to
``{base_url}/access/jwt``. The JWT is HS256 with the account's JWT SSO shared secret and
carries ``iat``, ``jti`` (192 random bits, new every time), ``name``, ``email`` and
``external_id`` (the login ``sub``), and optionally ``organization``, ``tags``, ``locale_id``,
``remote_photo_url`` and ``user_fields`` taken from login claims. Zendesk judges the token by
its ``iat`` (a few minutes) and refuses a ``jti`` it has seen: there is no ``exp``.

``return_to`` decides where the browser goes after Zendesk, so it is parsed once, with
``urllib.parse``, and refused (:class:`~bridge.errors.BadReturnTo`) unless it is a plain
http(s) URL whose host is listed in ``return_to_hosts``.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, StringConstraints, field_validator

from bridge.errors import BadReturnTo
from bridge.login.identity import Identity, is_sane_text
from bridge.settings.base import ClaimName, HmacSecret, HttpUrl, HttpUrlWithQuery, Model, Secret
from bridge.targets.base import Clock, HmacJwtSigner, Signer, TargetSettings

#: random bytes in a ``jti``: 192 bits, as 32 base64url characters
JTI_BYTES = 24
MAX_RETURN_TO_CHARS = 2048
#: anything but the characters of RFC 3986: control characters, whitespace, backslashes
#: (which browsers read as ``/``), ``<>"{}|^`` and non-ASCII text (look-alikes, bidi marks)
_NOT_PLAIN_URL = re.compile(r"[^A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_TAG = re.compile(r"^[^\s,]{1,255}$")
_PHOTO_URL = re.compile(r"^https://[^\s]{1,2040}$")

#: ``host`` or ``host:port``, lower case; no scheme, path or userinfo
HostName = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9.-]{0,252}[a-z0-9])?(:[0-9]{1,5})?$")
]
UserFieldKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,64}$")]


def _host_port(host: str, port: int | None, scheme: str) -> tuple[str, int]:
    return host, port if port is not None else _DEFAULT_PORTS[scheme]


def check_return_to(value: str, hosts: Sequence[tuple[str, int | None]]) -> str:
    """``value`` when it is an http(s) URL on one of ``hosts`` (``(host, port or None)``;
    None matches the scheme's default port); else :class:`BadReturnTo`."""
    if not value or len(value) > MAX_RETURN_TO_CHARS or _NOT_PLAIN_URL.search(value):
        raise BadReturnTo(reason="return_to_characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:  # a bad port or IPv6 literal
        raise BadReturnTo(reason="return_to_unparsable") from None
    if parts.scheme not in _DEFAULT_PORTS:
        raise BadReturnTo(reason="return_to_scheme")
    if "@" in parts.netloc or not parts.hostname:
        raise BadReturnTo(reason="return_to_authority")
    wanted = _host_port(parts.hostname, port, parts.scheme)
    if not any(wanted == _host_port(host, p, parts.scheme) for host, p in hosts):
        raise BadReturnTo(reason="return_to_host")
    return value


def fill_url(template: str, value: str) -> str:
    """``template`` with ``{return}`` replaced by ``value``, percent-encoded."""
    return template.replace("{return}", quote(value, safe=""))


class SsoClaims(Model):
    """Login claims copied into Zendesk's optional claims; each names a login claim."""

    organization: ClaimName | None = None
    tags: ClaimName | None = None
    locale_id: ClaimName | None = None
    remote_photo_url: ClaimName | None = None
    #: Zendesk user field key -> login claim
    user_fields: dict[UserFieldKey, ClaimName] = Field(default_factory=dict, max_length=64)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value and is_sane_text(value, 255) else None


def _tags(value: object) -> list[str] | None:
    items = value.split(" ") if isinstance(value, str) else value
    if not isinstance(items, list):
        return None
    tags = [t for t in items if isinstance(t, str) and _TAG.match(t) and is_sane_text(t, 255)]
    return tags[:100] or None


def _locale(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 < value < 2**31:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10:
        return int(value)
    return None


def _photo(value: object) -> str | None:
    if isinstance(value, str) and _PHOTO_URL.match(value) and is_sane_text(value, 2048):
        return value
    return None


def _field(value: object) -> object:
    if isinstance(value, bool | int | float):
        return value
    return _text(value)


class ZendeskSsoSigner(HmacJwtSigner):
    type = "zendesk_sso"
    form_only = True  # its token only ever travels in a form to Zendesk
    default_ttl = 180  # not a claim: Zendesk judges iat, within about three minutes
    max_ttl = 180
    needs_email = True

    def __init__(
        self,
        name: str,
        *,
        secret: Secret,
        base_url: str,
        return_to_hosts: Sequence[str],
        logout_url: str | None,
        claim_map: SsoClaims,
        name_claims: Sequence[str],
        clock: Clock = time.time,
    ) -> None:
        super().__init__(name, secret=secret, ttl=None, name_claims=name_claims, clock=clock)
        self.base_url = base_url.rstrip("/")
        #: where the page POSTs: Zendesk's JWT endpoint on the configured host
        self.action = f"{self.base_url}/access/jwt"
        scheme, netloc = urlsplit(self.base_url)[:2]
        self.origin = f"{scheme}://{netloc}"
        self.return_to_hosts = tuple(_split_host(h) for h in return_to_hosts)
        self.logout_url = logout_url
        self.claim_map = claim_map

    def check_return_to(self, value: str | None) -> str:
        """The allowed ``return_to``, or the help center's home when none was given."""
        if value is None:
            return self.base_url + "/"
        return check_return_to(value, self.return_to_hosts)

    def claims(self, identity: Identity, now: int) -> dict[str, Any]:
        assert identity.email is not None
        claims: dict[str, Any] = {
            "iat": now,
            "jti": secrets.token_urlsafe(JTI_BYTES),
            "name": identity.display_name(self.name_claims) or identity.email,
            "email": identity.email,
            "external_id": identity.sub,
        }
        source, mapping = identity.claims, self.claim_map
        optional: list[tuple[str, str | None, Any]] = [
            ("organization", mapping.organization, _text),
            ("tags", mapping.tags, _tags),
            ("locale_id", mapping.locale_id, _locale),
            ("remote_photo_url", mapping.remote_photo_url, _photo),
        ]
        for claim, login_claim, convert in optional:
            if login_claim is not None:
                value = convert(source.get(login_claim))
                if value is not None:
                    claims[claim] = value
        fields = {key: _field(source.get(c)) for key, c in mapping.user_fields.items()}
        fields = {key: value for key, value in fields.items() if value is not None}
        if fields:
            claims["user_fields"] = fields
        return claims


def _split_host(entry: str) -> tuple[str, int | None]:
    host, _, port = entry.partition(":")
    return host, int(port) if port else None


class ZendeskSsoTarget(TargetSettings):
    type: Literal["zendesk_sso"]
    builds = ZendeskSsoSigner
    #: the help center's address: ``https://SUBDOMAIN.zendesk.com`` or a host-mapped brand
    base_url: HttpUrl
    #: the JWT SSO shared secret (Admin Center > Account > Security > Single sign-on)
    secret: HmacSecret
    #: hosts ``return_to`` may name (``host`` or ``host:port``); default: base_url's host
    return_to_hosts: list[HostName] | None = Field(default=None, min_length=1)
    #: where the remote logout URL sends the browser; ``{return}`` becomes return_to
    logout_url: HttpUrlWithQuery | None = None
    #: login claims for Zendesk's optional claims
    claims: SsoClaims = Field(default_factory=SsoClaims)

    @field_validator("ttl")
    @classmethod
    def _no_ttl(cls, value: int | None) -> int | None:
        if value is not None:
            raise ValueError("zendesk_sso tokens carry no exp (Zendesk judges iat): remove ttl")
        return value

    @field_validator("base_url")
    @classmethod
    def _origin_and_path(cls, value: str) -> str:
        if "@" in urlsplit(value).netloc:
            raise ValueError("base_url may not carry a user name or password")
        return value.rstrip("/")

    def build(self, name: str, *, name_claims: Sequence[str], clock: Clock) -> Signer:
        hosts = self.return_to_hosts
        if hosts is None:
            hosts = [urlsplit(self.base_url).netloc.lower()]
        return ZendeskSsoSigner(
            name,
            secret=self.secret.secret,
            base_url=self.base_url,
            return_to_hosts=hosts,
            logout_url=self.logout_url,
            claim_map=self.claims,
            name_claims=name_claims,
            clock=clock,
        )
