"""Verify the login system's token and turn it into an :class:`Identity`.

A token goes through two layers:

1. **The strict layer** (:mod:`bridge.login.jws`, no key needed): canonical compact form,
   strict JSON, allowed header parameters, the ``alg`` pinned to the configured list.
2. **Signature and claims** (here): the signature is checked with PyJWT's algorithm object for
   the header's ``alg``, which is pinned to the configured list, so the key family is fixed by
   the configuration and an HMAC secret never meets an RS token or the reverse (RFC 8725 §3.1).
   HS tries every configured secret (rotation); RS/PS/ES asks the :class:`KeySet` for the
   ``kid`` (or every key when the token has none); a system with a ``project_id`` first
   requires the token's ``xsolla_login_project_id`` to be that very string (a number, a list or
   anything else is not). Then ``exp`` (required), ``nbf``, ``iat``
   with ``leeway`` against the injected clock, ``iss`` by exact comparison and ``aud`` with
   PyJWT's semantics, and finally ``sub``.

PyJWT's ``jwt.decode`` is not called: it would decode and parse the token a second time (about
five times the cost of this whole path) and it reads the wall clock itself, so the injected
``clock`` could not be honoured.

Errors carry a short ``reason`` for logs and metrics. Messages never contain the token, a
secret or a claim value.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import Any

import jwt
from jwt.algorithms import Algorithm
from jwt.exceptions import PyJWTError

from bridge.errors import KeysUnavailable, SubjectMissing, TokenInvalid
from bridge.login.identity import Identity, is_sane_text, sane_email
from bridge.login.jws import CompactToken, has_lone_surrogate, parse_compact
from bridge.login.keysets import KeySet
from bridge.settings.login import PROJECT_CLAIM, LoginSystemSettings

__all__ = ["Verifier"]

_MAX_SUB_CHARS = 255


class Verifier:
    """Verifies login tokens against the configured algorithms, secrets or key set."""

    def __init__(
        self,
        settings: LoginSystemSettings,
        *,
        keyset: KeySet | None = None,
        clock: Callable[[], float] = time.time,
        name: str = "default",
    ) -> None:
        #: the login system's short name (metrics and access lines)
        self.name = name
        #: the cookie this system's tokens arrive in
        self.cookie = settings.cookie
        self._name_claims = tuple(settings.name_claims)
        self._family = settings.family
        self._algorithms: dict[str, Algorithm] = {
            alg: jwt.get_algorithm_by_name(alg) for alg in settings.algorithms
        }
        self._secrets: tuple[bytes, ...] = tuple(s.secret.reveal() for s in settings.secrets)
        if self._family == "HS":
            if keyset is not None:
                raise ValueError("HS algorithms use secrets, not a key set")
            if not self._secrets:
                raise ValueError("HS algorithms need at least one secret")
        else:
            if keyset is None:
                raise ValueError("RS/PS/ES algorithms need a key set")
            if keyset.family != self._family:
                raise ValueError(f"the key set holds {keyset.family} keys, not {self._family}")
        self._keyset = keyset
        self._clock = clock
        self._issuer = settings.issuer
        audience = settings.audience
        self._audience: frozenset[str] | None = (
            None
            if audience is None
            else frozenset([audience] if isinstance(audience, str) else audience)
        )
        self._leeway = settings.leeway
        self._max_token = settings.max_token_bytes
        self._prefix = settings.subject_prefix or ""
        #: the Xsolla Login project whose tokens this system takes (None: any token)
        self.project = settings.project_id
        self._emails_verified = settings.emails_verified
        # token string -> (identity, key-set generation); insertion-ordered, oldest evicted
        self._cache: dict[str, tuple[Identity, int]] = {}
        self._cache_size = settings.verify_cache_size

    @property
    def ready(self) -> bool:
        """Whether this verifier can check tokens now: always with HS secrets; with published
        keys once its key set has loaded them (stale keys still verify)."""
        return self._keyset is None or self._keyset.loaded

    async def load_keys(self) -> bool:
        """Ask for the published keys when none were ever loaded (the key set's cooldown
        applies); the resulting :attr:`ready`."""
        if self._keyset is not None and not self._keyset.loaded:
            try:
                await self._keyset.keys_for(None)
            except KeysUnavailable:
                return False
        return self.ready

    @property
    def keyset(self) -> KeySet | None:
        """The published keys this verifier uses (None for HS secrets)."""
        return self._keyset

    @property
    def algorithms(self) -> frozenset[str]:
        return frozenset(self._algorithms)

    @property
    def max_token_bytes(self) -> int:
        return self._max_token

    async def verify(self, token: str) -> Identity:
        """The identity in ``token``; raise ``TokenInvalid``, ``SubjectMissing`` or
        ``KeysUnavailable`` (RS/PS/ES keys never fetched).

        A token that verified before is answered from a bounded cache: the same string under
        the same configuration (the cache belongs to this verifier) and the same keys gives the
        same identity, except for expiry, which is checked again on every hit exactly as a full
        verification would. Failures are never cached.
        """
        identity = self.cached_identity(token)
        if identity is not None:
            return identity
        return await self.verify_parsed(
            token, parse_compact(token, algorithms=self._algorithms, max_bytes=self._max_token)
        )

    def cached_identity(self, token: str) -> Identity | None:
        """The identity remembered for ``token`` while it still holds, else None."""
        cached = self._cache.get(token)
        if cached is None:
            return None
        identity, generation = cached
        keyset = self._keyset
        if (
            identity.expires_at > self._clock() - self._leeway
            and generation == (0 if keyset is None else keyset.generation)
            # keys due for a refresh: take the full path, which refreshes them, so that a
            # revoked key stops working as soon as it would without this cache
            and (keyset is None or keyset.fresh)
        ):
            return identity
        del self._cache[token]
        return None

    async def verify_parsed(self, token: str, parsed: CompactToken) -> Identity:
        """The full check of ``token``, already through the strict layer as ``parsed`` (whose
        ``alg`` must be one of this system's), remembered when it passes."""
        if parsed.alg not in self._algorithms or len(token) > self._max_token:
            raise TokenInvalid(
                reason="alg_not_allowed" if parsed.alg not in self._algorithms else "too_large"
            )
        if self.project is not None and parsed.payload.get(PROJECT_CLAIM) != self.project:
            # before the signature: a token of another project never makes us fetch keys
            raise TokenInvalid(reason="unknown_project")
        keyset = self._keyset
        generation = 0 if keyset is None else keyset.generation
        identity = await self._verify(parsed)
        if self._cache_size:
            if len(self._cache) >= self._cache_size:
                del self._cache[next(iter(self._cache))]
            # the generation seen before the check: a refresh during it makes this entry stale
            self._cache[token] = (identity, generation)
        return identity

    @property
    def cached(self) -> int:
        """How many verified tokens are remembered now."""
        return len(self._cache)

    async def _verify(self, parsed: CompactToken) -> Identity:
        await self._check_signature(parsed.alg, parsed.kid, parsed.signing_input, parsed.signature)
        payload = parsed.payload
        self._check_claims(payload)

        # like Xsolla's reference (``sub, _ := claims["sub"].(string)``): no usable sub is a 422,
        # but a sub that is there and unsafe is an invalid token
        sub = payload.get("sub")
        if not isinstance(sub, str) or not sub.strip():
            sub = None
        elif sub != sub.strip() or not is_sane_text(sub, _MAX_SUB_CHARS):
            raise TokenInvalid(reason="bad_sub")
        # unpaired surrogates (only reachable through "\udXXX" escapes) anywhere in the payload
        text = parsed.payload_text
        if ("\\ud" in text or "\\uD" in text) and has_lone_surrogate(payload):
            raise TokenInvalid(reason="bad_unicode")
        if sub is None:
            raise SubjectMissing(reason="no_sub")
        email = sane_email(payload.get("email"))
        said = _boolean(payload.get("email_verified"))
        if said is False:
            # an email its own system calls unverified is nobody's: no target may use it, not
            # even through a login claim that a target copies
            email = None
            payload = {key: value for key, value in payload.items() if key != "email"}
        return Identity(
            sub=self._prefix + sub,
            email=email,
            claims=MappingProxyType(payload),
            expires_at=int(payload["exp"]),
            login=self.name,
            name_claims=self._name_claims,
            email_verified=email is not None and (self._emails_verified or said is True),
            project=self.project,
        )

    async def _check_signature(
        self, alg: str, kid: str | None, signing_input: bytes, signature: bytes
    ) -> None:
        algorithm = self._algorithms[alg]
        if self._keyset is None:
            for secret in self._secrets:
                if algorithm.verify(signing_input, secret, signature):
                    return
            raise TokenInvalid(reason="bad_signature")
        keys = await self._keyset.keys_for(kid)
        if not keys:
            raise TokenInvalid(reason="unknown_kid" if kid is not None else "no_keys")
        for key in keys:
            try:
                prepared = algorithm.prepare_key(key)  # rejects a key of the wrong type or curve
                if algorithm.check_key_length(prepared) is not None:
                    continue
                if algorithm.verify(signing_input, prepared, signature):
                    return
            except (PyJWTError, ValueError, TypeError):
                continue
        raise TokenInvalid(reason="bad_signature")

    def _check_claims(self, payload: dict[str, Any]) -> None:
        now = self._clock()
        leeway = self._leeway
        # int() like PyJWT: a fractional exp is truncated, never rounded up
        if int(payload["exp"]) <= now - leeway:
            raise TokenInvalid(reason="expired")
        if "nbf" in payload and int(payload["nbf"]) > now + leeway:
            raise TokenInvalid(reason="not_yet_valid")
        if "iat" in payload and int(payload["iat"]) > now + leeway:
            raise TokenInvalid(reason="iat_in_future")

        if "iss" in payload or self._issuer is not None:
            iss = payload.get("iss")
            # exact comparison: never ``in`` on a string (CVE-2024-53861)
            if not isinstance(iss, str) or (self._issuer is not None and iss != self._issuer):
                raise TokenInvalid(reason="bad_iss")

        if "aud" in payload:
            aud = payload["aud"]
            if isinstance(aud, str):
                token_audiences: Sequence[str] = (aud,)
            elif type(aud) is list and all(isinstance(a, str) for a in aud):
                token_audiences = aud
            else:
                raise TokenInvalid(reason="bad_aud")
        else:
            aud, token_audiences = None, ()
        if self._audience is None:
            if aud:  # a token meant for a named audience is not for us
                raise TokenInvalid(reason="bad_aud")
        elif not any(a in self._audience for a in token_audiences):
            raise TokenInvalid(reason="bad_aud")


def _boolean(value: object) -> bool | None:
    """``email_verified`` as a token gives it: ``true``/``false``, or those words as strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None
