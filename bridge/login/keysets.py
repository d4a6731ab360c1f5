"""Fetch and cache the login system's public signing keys.

Two formats are understood:

* a standard JWKS, ``{"keys": [{"kty": "RSA", "n": ..., "e": ...}, ...]}``, with base64url
  integers (RFC 7517, RFC 7518 §6);
* Xsolla Login's project keys (``GET /api/projects/{id}/keys``): a bare JSON array of
  ``{alg, e, kid, kty, n, use}`` whose integers are **hex** strings, as Xsolla's own Go SDK
  reads them.

Keys of the other family, with a ``use`` other than ``"sig"``, with an ``alg`` outside the
family, RSA keys under 2048 bits and malformed entries are skipped one by one. A document with
no usable key at all counts as a failed fetch.

With ``discovery_url`` (an OpenID Connect discovery document), the keys are read from the
document's ``jwks_uri``; the document's ``issuer`` must equal the configured one exactly, and a
``jwks_uri`` may not step down from ``https`` to ``http``. The document is cached like the keys:
fetched again with the first refresh after ``cache_ttl``; a refresh for an unknown ``kid`` only
fetches the keys. When the document cannot be fetched, the last good ``jwks_uri`` is used.

The cache is refreshed when it is older than ``cache_ttl`` and when a token names an unknown
``kid``; fetches are spaced by at least ``refresh_cooldown`` (an attacker inventing ``kid``
values cannot make us hammer the key server) and are single-flight: concurrent callers wait for
the one fetch in progress. A failed refresh keeps the keys we have (fail closed for tokens
signed by unknown keys, open for the cache). Only when no fetch ever succeeded does
:meth:`KeySet.keys_for` raise :class:`~bridge.errors.KeysUnavailable`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bridge.errors import KeysUnavailable
from bridge.metrics import Metrics

__all__ = ["FAMILY_ALGORITHMS", "KeySet", "PublicKey", "discovered_jwks_uri"]

logger = logging.getLogger(__name__)

PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

#: the ``alg`` values a key of each family may announce
FAMILY_ALGORITHMS = {
    "RSA": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    "EC": frozenset({"ES256", "ES384", "ES512"}),
}
_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
}
RSA_MIN_BITS = 2048
# at most a 16384-bit integer
_HEX = re.compile(r"[0-9A-Fa-f]{1,4096}")
_B64URL = re.compile(r"[A-Za-z0-9_-]{1,4096}={0,2}")
#: before the first successful fetch, attempts are spaced by at most this many seconds
_UNLOADED_RETRY = 5.0


class _FetchFailed(Exception):
    """A fetch gave no usable key set; the message is a short, secret-free reason."""


def _hex_uint(value: object) -> int:
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise ValueError("not a hex integer")
    return int(value, 16)


def _b64url_uint(value: object) -> int:
    if not isinstance(value, str) or not _B64URL.fullmatch(value):
        raise ValueError("not a base64url integer")
    try:
        raw = base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not a base64url integer") from None
    return int.from_bytes(raw, "big")


def discovered_jwks_uri(document: Any, *, issuer: str, url: str) -> str:
    """The ``jwks_uri`` of the discovery ``document`` fetched from ``url``; ``ValueError``
    (with a short reason) when the document does not name ``issuer`` exactly or gives no
    usable ``jwks_uri``."""
    if not isinstance(document, dict):
        raise ValueError("the discovery document is not a JSON object")
    if document.get("issuer") != issuer:
        raise ValueError("the discovery document names another issuer")
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise ValueError("the discovery document has no jwks_uri")
    parts = urlsplit(jwks_uri)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("the discovery document's jwks_uri is not an http(s) URL")
    if parts.scheme == "http" and urlsplit(url).scheme == "https":
        raise ValueError("the discovery document's jwks_uri steps down to http")
    return jwks_uri


class KeySet:
    """The public keys of one family (``"RSA"`` or ``"EC"``) served at ``url``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        *,
        family: str,
        cache_ttl: float = 600,
        refresh_cooldown: float = 30,
        timeout: float = 5,
        max_bytes: int = 256 * 1024,
        clock: Callable[[], float] = time.monotonic,
        discovery_issuer: str | None = None,
        name: str = "default",
        metrics: Metrics | None = None,
    ) -> None:
        """Keys at ``url``; or, with ``discovery_issuer``, ``url`` is a discovery document whose
        ``issuer`` must be ``discovery_issuer`` and whose ``jwks_uri`` serves the keys; ``name``
        is the login system's, for the log lines and ``bridge_login_keys_fetches_total``."""
        if family not in FAMILY_ALGORITHMS:
            raise ValueError('family must be "RSA" or "EC"')
        self.family = family
        self.url = url
        self.name = name
        self._metrics = metrics
        self._issuer = discovery_issuer
        self._jwks_uri: str | None = None if discovery_issuer is not None else url
        self._document_at: float | None = None  # last good discovery document
        self._session = session
        self._cache_ttl = cache_ttl
        self._cooldown = refresh_cooldown
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_bytes = max_bytes
        self._clock = clock
        self._by_kid: dict[str, PublicKey] = {}
        self._keys: list[PublicKey] = []
        self._loaded_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch, successful or not
        self._fetches = 0  # fetches finished, successful or not
        self._lock = asyncio.Lock()
        #: bumped by every successful refresh, so that results verified with older keys
        #: (the verifier's cache) are not trusted past a change of keys
        self.generation = 0

    @property
    def loaded(self) -> bool:
        """Whether a fetch has ever succeeded."""
        return self._loaded_at is not None

    @property
    def fresh(self) -> bool:
        """Loaded and younger than ``cache_ttl``: no refresh is due."""
        return self._loaded_at is not None and self._clock() - self._loaded_at < self._cache_ttl

    async def load(self) -> bool:
        """Fetch the keys now unless a fetch is in its cooldown; whether keys are loaded."""
        await self._refresh()
        return self.loaded

    async def keys_for(self, kid: str | None) -> list[Any]:
        """The key named ``kid`` (``[]`` if unknown), or every key when ``kid`` is None."""
        if self._loaded_at is None or self._clock() - self._loaded_at >= self._cache_ttl:
            await self._refresh()
        if self._loaded_at is None:
            raise KeysUnavailable(reason="keys_never_fetched")
        if kid is None:
            return list(self._keys)
        key = self._by_kid.get(kid)
        if key is None:
            await self._refresh()
            key = self._by_kid.get(kid)
        return [] if key is None else [key]

    def _may_fetch(self) -> bool:
        if self._attempted_at is None:
            return True
        cooldown = (
            self._cooldown if self._loaded_at is not None else min(self._cooldown, _UNLOADED_RETRY)
        )
        return self._clock() - self._attempted_at >= cooldown

    async def _refresh(self) -> None:
        finished = self._fetches
        if not self._lock.locked() and not self._may_fetch():
            return
        async with self._lock:
            # a fetch finished while we waited for the lock: share its result
            if self._fetches != finished or not self._may_fetch():
                return
            started = self._attempted_at = self._clock()
            try:
                by_kid, keys = self._parse(await self._fetch(await self._keys_url(started)))
            except _FetchFailed as exc:
                if self._metrics is not None:
                    self._metrics.login_keys_fetched(self.name, ok=False)
                logger.warning(
                    "fetching the login system's %s keys failed (%s); %s [login %s]",
                    self.family,
                    exc,
                    f"keeping {len(self._keys)} cached keys" if self.loaded else "no keys yet",
                    self.name,
                )
                return
            finally:
                self._fetches += 1
            self._by_kid, self._keys, self._loaded_at = by_kid, keys, started
            self.generation += 1
            if self._metrics is not None:
                self._metrics.login_keys_fetched(self.name, ok=True)
            logger.info(
                "loaded %d %s keys of the login system [login %s]",
                len(keys),
                self.family,
                self.name,
            )

    async def _keys_url(self, now: float) -> str:
        """Where the keys are: ``url``, or the discovery document's ``jwks_uri`` (fetched
        again when it is older than ``cache_ttl``; the last good one when that fails)."""
        if self._issuer is None or (
            self._jwks_uri is not None
            and self._document_at is not None
            and now - self._document_at < self._cache_ttl
        ):
            assert self._jwks_uri is not None
            return self._jwks_uri
        try:
            document = await self._fetch(self.url)
            try:
                self._jwks_uri = discovered_jwks_uri(document, issuer=self._issuer, url=self.url)
            except ValueError as exc:
                raise _FetchFailed(str(exc)) from None
            self._document_at = now
        except _FetchFailed as exc:
            if self._jwks_uri is None:
                raise _FetchFailed(f"discovery document: {exc}") from None
            logger.warning(
                "fetching the login system's discovery document failed (%s); "
                "keeping its last jwks_uri [login %s]",
                exc,
                self.name,
            )
        return self._jwks_uri

    async def _fetch(self, url: str) -> Any:
        try:
            async with self._session.get(
                url,
                allow_redirects=False,
                timeout=self._timeout,
                headers={"Accept": "application/json"},
            ) as response:
                if response.status != 200:
                    raise _FetchFailed(f"HTTP {response.status}")
                content_type = response.content_type
                if content_type != "application/json" and not content_type.endswith("+json"):
                    raise _FetchFailed("the answer is not JSON")
                length = response.content_length
                if length is not None and length > self._max_bytes:
                    raise _FetchFailed("Content-Length over the size limit")
                body = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise _FetchFailed("body over the size limit")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _FetchFailed(type(exc).__name__) from None
        try:
            return json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            raise _FetchFailed("the answer is not valid JSON") from None

    def _parse(self, document: Any) -> tuple[dict[str, PublicKey], list[PublicKey]]:
        if isinstance(document, dict) and isinstance(document.get("keys"), list):
            entries, read_int = document["keys"], _b64url_uint
        elif isinstance(document, list):  # Xsolla's project keys
            entries, read_int = document, _hex_uint
        else:
            raise _FetchFailed("neither a JWKS nor a key array")
        by_kid: dict[str, PublicKey] = {}
        keys: list[PublicKey] = []
        skipped = 0
        for entry in entries:
            parsed = self._parse_key(entry, read_int)
            if parsed is None:
                skipped += 1
                continue
            kid, key = parsed
            keys.append(key)
            if kid is not None:
                by_kid.setdefault(kid, key)
        if skipped:
            logger.info(
                "skipped %d unusable entries in the login system's keys [login %s]",
                skipped,
                self.name,
            )
        if not keys:
            raise _FetchFailed(f"no usable {self.family} signing key")
        return by_kid, keys

    def _parse_key(
        self, entry: Any, read_int: Callable[[object], int]
    ) -> tuple[str | None, PublicKey] | None:
        if not isinstance(entry, dict) or entry.get("kty") != self.family:
            return None
        if entry.get("use", "sig") != "sig":
            return None
        alg = entry.get("alg")
        if alg is not None and (
            not isinstance(alg, str) or alg not in FAMILY_ALGORITHMS[self.family]
        ):
            return None
        key_ops = entry.get("key_ops")
        if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
            return None
        kid = entry.get("kid")
        if kid is not None and not isinstance(kid, str):
            return None
        key: PublicKey
        try:
            if self.family == "RSA":
                key = rsa.RSAPublicNumbers(read_int(entry["e"]), read_int(entry["n"])).public_key()
                if key.key_size < RSA_MIN_BITS:
                    return None
            else:
                curve = _CURVES[entry["crv"]]()
                x, y = read_int(entry["x"]), read_int(entry["y"])
                key = ec.EllipticCurvePublicNumbers(x, y, curve).public_key()  # on-curve check
        except (KeyError, TypeError, ValueError):
            return None
        return kid, key
