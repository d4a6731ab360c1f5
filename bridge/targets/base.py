"""What every widget target shares: its settings base, :class:`Target` (a :class:`Signer` or a
:class:`Broker`) and JWT encoding.

A target turns a verified login :class:`~bridge.login.identity.Identity` into one vendor's
credential. Each vendor module (``bridge/targets/<vendor>.py``) holds the vendor's settings
model, whose :meth:`TargetSettings.signer` builds its signer, and the signer itself;
:mod:`bridge.targets.registry` lists them.

Tokens are encoded here rather than through ``jwt.encode``: the header segment is fixed per
signer and computed once, the payload is compact JSON, and HS256 copies an HMAC state keyed
once per signer (PyJWT re-checks the key's format and rebuilds the header on every call;
docs/performance.md has what that costs). The tests verify every kind of token independently of this
code.
"""

from __future__ import annotations

import binascii
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import aiohttp
import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from pydantic import Field

from bridge.cache import Cache
from bridge.errors import EmailMissing
from bridge.login.identity import Identity
from bridge.metrics import Metrics
from bridge.settings.base import ClaimName, HmacSecret, Model, Secret

Clock = Callable[[], float]


class MintedToken(NamedTuple):
    token: str
    expires_at: int | None
    #: more members of the ``/v1/targets/{name}/token`` answer (e.g. what was signed)
    extra: Mapping[str, str] | None = None


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64url(data: bytes) -> bytes:
    """Unpadded base64url (``base64.urlsafe_b64encode`` without its Python-level steps)."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


def header_segment(header: Mapping[str, str]) -> bytes:
    """The base64url JOSE header, serialised as PyJWT does (compact, sorted keys)."""
    return b64url(orjson.dumps(dict(header), option=orjson.OPT_SORT_KEYS))


def payload_segment(claims: Mapping[str, Any]) -> bytes:
    return b64url(orjson.dumps(claims))


class Target(ABC):
    """One configured widget target: what every kind shares, and what it can do.

    The capability flags are what the token path asks of a target (never its class or its
    ``type``): whether its credential is a JWT, whether it needs the user's email, whether the
    vendor issues it (a :class:`Broker`) or it is signed here (a :class:`Signer`), and whether
    it only ever travels in a form (no token endpoint).
    """

    type: ClassVar[str]
    default_ttl: ClassVar[int]
    max_ttl: ClassVar[int]
    needs_email: ClassVar[bool]
    #: False for credentials without an expiry (``ttl`` then means nothing)
    expires: ClassVar[bool] = True
    #: the credential is a JWT (``Accept: application/jwt`` may ask for it bare)
    issues_jwt: ClassVar[bool] = True
    #: the vendor issues the credential: :meth:`mint` calls its API (a :class:`Broker`)
    brokered: ClassVar[bool] = False
    #: the credential only ever travels in a form to the vendor: no token endpoint answers it
    form_only: ClassVar[bool] = False

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
        #: the target sets no ``name_claims``: use those of the system that verified the login
        self.follows_login_names = False
        self._clock = clock

    def names_for(self, identity: Identity) -> Sequence[str]:
        """The display-name claims for ``identity``: the target's, or its login system's."""
        return identity.name_claims if self.follows_login_names else self.name_claims

    @abstractmethod
    def mint(self, identity: Identity) -> MintedToken | Awaitable[MintedToken]:
        """The credential for ``identity``: at once when signed here, awaitable when the
        vendor issues it."""

    def bind(self, resources: BrokerResources) -> None:
        """What the target needs once the event loop runs; called once at start-up."""
        return  # a signer needs nothing: it signs with what it was built with

    async def close(self) -> None:
        """End what is in flight (at shutdown)."""
        return

    def public_jwk(self) -> dict[str, Any] | None:
        """The public key to publish, for asymmetric signers."""
        return None

    def summary(self) -> str:
        """One line for ``bridge check-config``: the type and the vendor's rules as applied."""
        note = " (clamped to the vendor's limit)" if self.clamped else ""
        return f"{self.type}, ttl {self.ttl}s{note}"

    #: the attributes the repr shows after the name (never a secret)
    repr_fields: ClassVar[tuple[str, ...]] = ("ttl",)

    def __repr__(self) -> str:
        shown = "".join(f", {field}={getattr(self, field)!r}" for field in self.repr_fields)
        return f"{type(self).__name__}(name={self.name!r}{shown})"


class Signer(Target):
    """A target whose credential is signed here: :meth:`sign` turns a verified login
    :class:`Identity` into the vendor's token, anew with the current time on every call."""

    def mint(self, identity: Identity) -> MintedToken:
        return self.sign(identity)

    def sign(self, identity: Identity) -> MintedToken:
        if self.needs_email and identity.email is None:
            raise EmailMissing()
        claims = self.claims(identity, int(self._clock()))
        return MintedToken(self._encode(claims), claims.get("exp"))

    def name_and_email(self, identity: Identity) -> dict[str, Any]:
        """``name`` (the display name, else the email) and ``email``, for an identity that
        has an email (a target with ``needs_email``)."""
        assert identity.email is not None
        name = identity.display_name(self.names_for(identity)) or identity.email
        return {"name": name, "email": identity.email}

    @abstractmethod
    def claims(self, identity: Identity, now: int) -> dict[str, Any]:
        """The payload for ``identity`` at ``now`` (epoch seconds)."""

    @abstractmethod
    def _encode(self, claims: dict[str, Any]) -> str: ...


class HmacJwtSigner(Signer):
    """An HS256 JWT signer: the header is fixed, the HMAC key set up once."""

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
        # HMAC-SHA256 keyed once, by cryptography: copying its keyed state is cheaper than the
        # standard library's hmac.digest(), which sets the key up again for every token
        self._keyed = crypto_hmac.HMAC(secret.reveal(), hashes.SHA256())
        self._header = header_segment({"alg": "HS256", "typ": "JWT", **(headers or {})})

    def _encode(self, claims: dict[str, Any]) -> str:
        signing_input = self._header + b"." + payload_segment(claims)
        mac = self._keyed.copy()
        mac.update(signing_input)
        return (signing_input + b"." + b64url(mac.finalize())).decode("ascii")


class SplitHmacJwtSigner(HmacJwtSigner):
    """An HS256 JWT signer whose claims are :meth:`identity_claims` (the same for an identity
    at any time) followed by :meth:`time_claims` (``iat``/``exp``): the widget tokens.

    The identity's part of the payload is made and base64url-encoded once per identity and
    signer and remembered on the identity, which lives as long as the verifier's bounded cache
    keeps it; the time claims' JSON once per second. A token then costs the base64url of its
    last few dozen bytes and the HMAC of the whole, and is the same, byte for byte, as signing
    the whole payload (the tests check it against PyJWT). The HMAC starts from the signer's
    one keyed state rather than a state per identity: with many users, copying a state that
    is in the CPU's cache costs less than one that is not, which outweighs the few blocks of
    SHA-256 it saves (docs/performance.md).
    """

    # the second the time claims were last made for (none yet), their exp and JSON, and the
    # base64url of the payload's last bytes that second, by the identity's bytes before them
    # (set by _new_second, which the first sign() calls)
    _second = -1
    _expires_at: int | None = None
    _time_json = b""
    _tails: dict[bytes, bytes]

    @abstractmethod
    def identity_claims(self, identity: Identity) -> dict[str, Any]:
        """The claims that depend on ``identity`` alone, in the token's order."""

    def time_claims(self, now: int) -> dict[str, Any]:
        """The claims that depend on the time ``now``; they come last. Default: ``exp``."""
        return {"exp": now + self.ttl}

    def claims(self, identity: Identity, now: int) -> dict[str, Any]:
        return {**self.identity_claims(identity), **self.time_claims(now)}

    def sign(self, identity: Identity) -> MintedToken:
        if self.needs_email and identity.email is None:
            raise EmailMissing()
        now = int(self._clock())
        if now != self._second:
            self._new_second(now)
        prefix = identity.memo(self, self._prefix)
        tail = self._tails.get(prefix.rest)
        if tail is None:
            tail = self._tail(prefix.rest)
        signing_input = prefix.text + tail
        mac = self._keyed.copy()
        mac.update(signing_input)
        token = signing_input + b"." + b64url(mac.finalize())
        return MintedToken(token.decode("ascii"), self._expires_at)

    def _new_second(self, now: int) -> None:
        timed = self.time_claims(now)
        self._time_json = orjson.dumps(timed)[1:]  # without its "{"
        self._expires_at = timed.get("exp")
        self._tails = {}
        self._second = now

    def _tail(self, rest: bytes) -> bytes:
        tail = b64url(rest + self._time_json)
        if len(self._tails) < 256:  # rest is 0 to 2 bytes: a handful of values in practice
            self._tails[rest] = tail
        return tail

    def _prefix(self, identity: Identity) -> _SignedPrefix:
        """What ``identity``'s claims contribute to every token it gets from this signer."""
        head = orjson.dumps(self.identity_claims(identity))[:-1]  # without its "}"
        if len(head) > 1:
            head += b","
        whole = len(head) - len(head) % 3  # base64 turns each 3 bytes into 4 characters
        return _SignedPrefix(self._header + b"." + b64url(head[:whole]), head[whole:])


class _SignedPrefix(NamedTuple):
    """An identity's part of its tokens from one signer (:meth:`SplitHmacJwtSigner._prefix`)."""

    #: header, ".", and the base64url of the payload's first bytes (a multiple of 3)
    text: bytes
    #: the payload's identity bytes left over (0 to 2), encoded with the time claims
    rest: bytes


@dataclass(frozen=True)
class BrokerResources:
    """What a broker needs once the event loop runs (built by the start-up context)."""

    session: aiohttp.ClientSession
    cache: Cache
    metrics: Metrics | None


class Broker(Target):
    """A target whose credential the vendor issues: :meth:`obtain` asks the vendor's API
    (through a cache). :meth:`bind` hands it the HTTP session and the cache at start-up, before
    any request; :meth:`close` ends its flights at shutdown."""

    brokered = True

    def mint(self, identity: Identity) -> Awaitable[MintedToken]:
        return self.obtain(identity)

    @abstractmethod
    def bind(self, resources: BrokerResources) -> None:
        """Set up the vendor client and the cache; called once at start-up."""

    @abstractmethod
    async def obtain(self, identity: Identity) -> MintedToken:
        """The vendor's credential for ``identity``, from the cache or the vendor."""


class TargetSettings(Model):
    """Keys every target takes besides ``type`` and its vendor's own."""

    #: token lifetime in seconds; clamped to the vendor's limit
    ttl: int | None = Field(default=None, gt=0)
    #: overrides ``upstream.name_claims`` for this target
    name_claims: list[ClaimName] | None = None

    #: the kind of target :meth:`build` makes: its capability flags, before it is built
    builds: ClassVar[type[Target]]

    def build(self, name: str, *, name_claims: Sequence[str], clock: Clock) -> Target:
        """The target's signer (or broker), named ``name``."""
        raise NotImplementedError


class SharedSecretTargetSettings(TargetSettings):
    """A target signed with the vendor's shared secret and nothing else to configure."""

    secret: HmacSecret
    builds: ClassVar[type[HmacJwtSigner]]

    def build(self, name: str, *, name_claims: Sequence[str], clock: Clock) -> Signer:
        return self.builds(
            name, secret=self.secret.secret, ttl=self.ttl, name_claims=name_claims, clock=clock
        )
