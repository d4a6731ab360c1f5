"""What every support-tool lookup shares: the record shape, the cached lookup of one tool, and
the client each one calls its vendor through.

A :class:`ToolLookup` is a :class:`~bridge.vendors.lookup.CachedLookup` of records by one key:
the login user's id (``keyed_by = "external_id"``) or an email (``"email"``). An empty answer is
"no such person" (cached for ``negative_ttl``); vendor errors are never cached. Its client is a
:class:`~bridge.vendors.client.VendorClient` whose ``vendor`` is the tool's vendor and whose
``api`` is the lookup's configured name, so calls, retries and the breaker are counted per
lookup with the vendor-neutral metrics.
"""

from __future__ import annotations

import base64
import time
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import aiohttp

from bridge.cache import Cache
from bridge.metrics import BreakerState, Metrics
from bridge.settings.lookups import LookupSettings
from bridge.vendors.breaker import CircuitBreaker, vendor_logger
from bridge.vendors.client import Clock, VendorClient
from bridge.vendors.fields import id_string, malformed, optional_str
from bridge.vendors.lookup import CachedLookup

KeyedBy = Literal["external_id", "email", "visitor_id"]


@dataclass(frozen=True, slots=True)
class Record:
    """One person in one tool, as the staff answer shows it (never the vendor's whole record)."""

    id: str
    name: str | None = None
    email: str | None = None
    external_id: str | None = None
    #: where the person is in the tool's own web app, when the record says
    url: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "external_id": self.external_id,
            "url": self.url,
        }

    @classmethod
    def from_json(cls, data: Any) -> Record:
        if not isinstance(data, dict):
            raise malformed("record")
        return cls(
            id=id_string(data.get("id")),
            name=optional_str(data, "name"),
            email=optional_str(data, "email"),
            external_id=optional_str(data, "external_id"),
            url=optional_str(data, "url"),
        )


Records = tuple[Record, ...]


def full_name(*parts: Any) -> str | None:
    """Given names and surnames joined; None when there are none."""
    words = [part.strip() for part in parts if isinstance(part, str) and part.strip()]
    return " ".join(words) or None


def basic(user: str, password: str) -> str:
    """An HTTP Basic ``Authorization`` value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


@dataclass(frozen=True)
class LookupParts:
    """What every lookup is built with at start-up."""

    session: aiohttp.ClientSession
    cache: Cache
    metrics: Metrics | None
    ttl: float
    negative_ttl: float
    clock: Clock = time.monotonic


def tool_client(
    parts: LookupParts,
    settings: LookupSettings,
    *,
    name: str,
    type_: str,
    vendor: str,
    authorization: str,
    headers: Mapping[str, str] | None = None,
    base_url: str | None = None,
) -> VendorClient:
    """The lookup ``name``'s client: its deadline, retries, body cap and its own breaker,
    whose state is both the vendor's (``vendor``, ``api=name``) and the lookup's metric."""
    metrics = parts.metrics

    def on_change(state: BreakerState) -> None:
        if metrics is not None:
            metrics.breaker_changed(vendor, name, state)
            metrics.lookup_breaker(name, type_, state)

    on_change("closed")
    breaker = CircuitBreaker(
        failures=settings.breaker_failures,
        cooldown=settings.breaker_cooldown,
        clock=parts.clock,
        on_change=on_change,
        logger=vendor_logger(vendor),
    )
    return VendorClient(
        parts.session,
        base_url=base_url or settings.base_url,
        authorization=authorization,
        headers=headers,
        deadline=settings.deadline,
        max_retries=settings.max_retries,
        max_body_bytes=settings.max_body_bytes,
        breaker=breaker,
        clock=parts.clock,
        metrics=metrics,
        vendor=vendor,
        api=name,
    )


class ToolLookup(CachedLookup[Records]):
    """One configured lookup: records by its key, behind the cache, through its client."""

    kind = "person"
    #: what the lookup is keyed by
    keyed_by: ClassVar[KeyedBy]

    def __init__(self, name: str, type_: str, client: VendorClient, parts: LookupParts) -> None:
        super().__init__(
            client,
            parts.cache,
            ttl=parts.ttl,
            negative_ttl=parts.negative_ttl,
            clock=parts.clock,
            metrics=parts.metrics,
            kind=f"lookup:{name}",
        )
        self.name = name
        self.type = type_
        self._cache = parts.cache

    @property
    def deadline(self) -> float:
        return self._client.deadline

    @property
    def matched_by(self) -> KeyedBy:
        return self.keyed_by

    async def fetch(self, ident: str, deadline_at: float) -> Records | None:
        records = await self.records(ident, deadline_at)
        return records or None

    @abstractmethod
    async def records(self, key: str, deadline_at: float) -> Records:
        """Ask the vendor: the records for ``key`` (already validated), empty when none."""

    def encode(self, value: Records) -> Any:
        return [record.as_json() for record in value]

    def decode(self, data: Any) -> Records:
        if not isinstance(data, list):
            raise malformed("records")
        return tuple(Record.from_json(item) for item in data)
