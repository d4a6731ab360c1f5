"""One signer per widget type: claims, header and lifetime rules of each vendor.

===================  =====  ==================================================  ========  ======
type                 alg    claims                                              default   limit
===================  =====  ==================================================  ========  ======
zendesk_chat         HS256  name, email, external_id, iat, exp                  300 s     420 s
zendesk_messaging    HS256  scope="user", external_id, name, email, exp         600 s     1 day
                            (+ email_verified when trusted); header ``kid``
freshdesk            HS256  name, email, exp                                    3600 s    7200 s
zipchat              RS256  email, first_name, last_name, additional_attributes 3600 s    3600 s
                            iat, exp; header ``kid``
===================  =====  ==================================================  ========  ======

A configured ``ttl`` above the limit is clamped to it (``Signer.clamped`` says so, and
``bridge check-config`` prints it). Every call signs with the current time; a second call for
the same verified identity within the same second gets the token already made in that second,
which is the same bytes a new signature would give.

Tokens are encoded here rather than through ``jwt.encode``: the header segment is fixed per
signer and computed once, the payload is compact JSON, and HS256 copies an HMAC state keyed
once per signer (PyJWT re-checks the key's format and rebuilds the header on every call, most
of the cost of a token request). The tests verify every kind of token independently of this code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from jwt.algorithms import RSAAlgorithm

from bridge.errors import EmailMissing
from bridge.settings import (
    FreshdeskTarget,
    Secret,
    Settings,
    ZendeskChatTarget,
    ZendeskMessagingTarget,
    ZipchatTarget,
    load_rsa_private_key,
)
from bridge.upstream import Identity

Clock = Callable[[], float]


#: same-second reuse: at most this many identities are remembered within one second
_RECENT_MAX = 4096


@dataclass(frozen=True, slots=True)
class MintedToken:
    token: str
    expires_at: int | None


def b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def header_segment(header: Mapping[str, str]) -> bytes:
    """The base64url JOSE header, serialised as PyJWT does (compact, sorted keys)."""
    return b64url(orjson.dumps(dict(header), option=orjson.OPT_SORT_KEYS))


def payload_segment(claims: Mapping[str, Any]) -> bytes:
    return b64url(orjson.dumps(claims))


class Signer(ABC):
    """Turns a verified login :class:`Identity` into one vendor's token."""

    type: ClassVar[str]
    default_ttl: ClassVar[int]
    max_ttl: ClassVar[int]
    needs_email: ClassVar[bool]

    def __init__(
        self,
        name: str,
        *,
        ttl: int | None,
        name_claims: Sequence[str],
        clock: Clock = time.time,
    ) -> None:
        self.name = name
        wanted = ttl if ttl is not None else self.default_ttl
        self.ttl = min(wanted, self.max_ttl)
        #: the configured ttl was above the vendor's limit and was lowered
        self.clamped = wanted > self.max_ttl
        self.name_claims = tuple(name_claims)
        self._clock = clock
        self._second = -1
        # id(identity) -> (identity, token) minted in self._second; holding the identity keeps
        # its id from being reused while the entry lives
        self._recent: dict[int, tuple[Identity, MintedToken]] = {}

    def sign(self, identity: Identity) -> MintedToken:
        if self.needs_email and identity.email is None:
            raise EmailMissing()
        now = int(self._clock())
        if now != self._second or len(self._recent) >= _RECENT_MAX:
            self._second = now
            self._recent = {}
        recent = self._recent.get(id(identity))
        if recent is not None and recent[0] is identity:
            return recent[1]
        claims = self.claims(identity, now)
        minted = MintedToken(self._encode(claims), claims.get("exp"))
        self._recent[id(identity)] = (identity, minted)
        return minted

    @abstractmethod
    def claims(self, identity: Identity, now: int) -> dict[str, Any]:
        """The payload for ``identity`` at ``now`` (epoch seconds)."""

    @abstractmethod
    def _encode(self, claims: dict[str, Any]) -> str: ...

    def public_jwk(self) -> dict[str, Any] | None:
        """The public key to publish, for asymmetric signers."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, ttl={self.ttl})"


class _HmacSigner(Signer):
    def __init__(
        self,
        name: str,
        *,
        secret: Secret,
        ttl: int | None,
        name_claims: Sequence[str],
        clock: Clock = time.time,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(name, ttl=ttl, name_claims=name_claims, clock=clock)
        # HMAC-SHA256 keyed once: copying the keyed state costs half of hmac.digest(), which
        # sets the key up again for every token (1.6 against 3.2 us, measured)
        self._keyed = hmac.new(secret.reveal(), digestmod=hashlib.sha256)
        self._header = header_segment({"alg": "HS256", "typ": "JWT", **(headers or {})})

    def _encode(self, claims: dict[str, Any]) -> str:
        signing_input = self._header + b"." + payload_segment(claims)
        mac = self._keyed.copy()
        mac.update(signing_input)
        return (signing_input + b"." + b64url(mac.digest())).decode("ascii")


class ZendeskChatSigner(_HmacSigner):
    """Zendesk Chat visitor authentication (Chat Web SDK, Web Widget Classic)."""

    type = "zendesk_chat"
    default_ttl = 300
    max_ttl = 420  # Zendesk: exp at most 7 minutes after iat
    needs_email = True

    def claims(self, identity: Identity, now: int) -> dict[str, Any]:
        assert identity.email is not None
        return {
            "name": identity.display_name(self.name_claims) or identity.email,
            "email": identity.email,
            "external_id": identity.sub,
            "iat": now,
            "exp": now + self.ttl,
        }


class ZendeskMessagingSigner(_HmacSigner):
    """Zendesk Messaging end-user authentication (Web Widget and mobile SDKs)."""

    type = "zendesk_messaging"
    default_ttl = 600
    max_ttl = 86400
    needs_email = False

    def __init__(
        self,
        name: str,
        *,
        secret: Secret,
        key_id: str,
        email_verified: bool,
        ttl: int | None,
        name_claims: Sequence[str],
        clock: Clock = time.time,
    ) -> None:
        super().__init__(
            name,
            secret=secret,
            ttl=ttl,
            name_claims=name_claims,
            clock=clock,
            headers={"kid": key_id},
        )
        self.email_verified = email_verified

    def claims(self, identity: Identity, now: int) -> dict[str, Any]:
        claims: dict[str, Any] = {"scope": "user", "external_id": identity.sub}
        display = identity.display_name(self.name_claims)
        if display:
            claims["name"] = display
        if identity.email:
            claims["email"] = identity.email
            if self.email_verified:
                claims["email_verified"] = True
        claims["exp"] = now + self.ttl
        return claims


class FreshdeskSigner(_HmacSigner):
    """Freshdesk help widget authentication."""

    type = "freshdesk"
    default_ttl = 3600
    max_ttl = 7200  # Freshdesk: exp at most two hours ahead
    needs_email = True

    def claims(self, identity: Identity, now: int) -> dict[str, Any]:
        assert identity.email is not None
        return {
            "name": identity.display_name(self.name_claims) or identity.email,
            "email": identity.email,
            "exp": now + self.ttl,
        }


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint of an RSA JWK, base64url without padding."""
    canonical = json.dumps(
        {"e": jwk["e"], "kty": jwk["kty"], "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    return b64url(hashlib.sha256(canonical.encode()).digest()).decode()


class ZipchatSigner(Signer):
    """Zipchat customer identification (RS256 with the key Zipchat issued)."""

    type = "zipchat"
    default_ttl = 3600
    max_ttl = 3600  # Zipchat recommends one hour; its own identify cache lasts one hour
    needs_email = True

    def __init__(
        self,
        name: str,
        *,
        private_key_pem: bytes,
        key_id: str | None,
        additional_attributes: Sequence[str],
        first_name_claim: str,
        last_name_claim: str,
        ttl: int | None,
        name_claims: Sequence[str],
        clock: Clock = time.time,
    ) -> None:
        super().__init__(name, ttl=ttl, name_claims=name_claims, clock=clock)
        self.__key = load_rsa_private_key(private_key_pem)
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.__key.public_key(), as_dict=True)
        self.key_id = key_id or jwk_thumbprint(jwk)
        self._header = header_segment({"alg": "RS256", "typ": "JWT", "kid": self.key_id})
        self._jwk = {**jwk, "kid": self.key_id, "alg": "RS256", "use": "sig"}
        self.additional_attributes = tuple(additional_attributes)
        self.first_name_claim = first_name_claim
        self.last_name_claim = last_name_claim

    def _names(self, identity: Identity) -> tuple[str | None, str | None]:
        first = identity.display_name([self.first_name_claim])
        last = identity.display_name([self.last_name_claim])
        if first is None and last is None:
            display = identity.display_name([c for c in self.name_claims if c != "email"])
            if display:
                first, _, rest = display.partition(" ")
                last = rest.strip() or None
        return first, last

    def claims(self, identity: Identity, now: int) -> dict[str, Any]:
        assert identity.email is not None
        claims: dict[str, Any] = {"email": identity.email}
        first, last = self._names(identity)
        if first:
            claims["first_name"] = first
        if last:
            claims["last_name"] = last
        extra = {
            name: identity.claims[name]
            for name in self.additional_attributes
            if name in identity.claims and identity.claims[name] is not None
        }
        if extra:
            claims["additional_attributes"] = extra
        claims["iat"] = now
        claims["exp"] = now + self.ttl
        return claims

    def _encode(self, claims: dict[str, Any]) -> str:
        signing_input = self._header + b"." + payload_segment(claims)
        signature = self.__key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return (signing_input + b"." + b64url(signature)).decode("ascii")

    def public_jwk(self) -> dict[str, Any]:
        return dict(self._jwk)


def build_signers(settings: Settings, *, clock: Clock = time.time) -> dict[str, Signer]:
    """One signer per configured target, by target name."""
    signers: dict[str, Signer] = {}
    for name, target in settings.targets.items():
        name_claims = target.name_claims or settings.upstream.name_claims
        signer: Signer
        if isinstance(target, ZendeskChatTarget | FreshdeskTarget):
            hmac_signer = (
                ZendeskChatSigner if isinstance(target, ZendeskChatTarget) else FreshdeskSigner
            )
            signer = hmac_signer(
                name,
                secret=target.secret.secret,
                ttl=target.ttl,
                name_claims=name_claims,
                clock=clock,
            )
        elif isinstance(target, ZendeskMessagingTarget):
            signer = ZendeskMessagingSigner(
                name,
                secret=target.secret.secret,
                key_id=target.key_id,
                email_verified=target.email_verified,
                ttl=target.ttl,
                name_claims=name_claims,
                clock=clock,
            )
        else:
            assert isinstance(target, ZipchatTarget)
            signer = ZipchatSigner(
                name,
                private_key_pem=target.private_key.secret.reveal(),
                key_id=target.key_id,
                additional_attributes=target.additional_attributes,
                first_name_claim=target.first_name_claim,
                last_name_claim=target.last_name_claim,
                ttl=target.ttl,
                name_claims=name_claims,
                clock=clock,
            )
        signers[name] = signer
    return signers
