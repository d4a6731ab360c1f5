"""HubSpot chat visitor identification: a broker, because HubSpot signs, not the gateway.

``POST {api_base_url}/visitor-identification/v3/tokens/create`` with a private app's token
(scope ``conversations.visitor_identification.tokens.create``) and ``{email, firstName,
lastName}`` answers ``{"token"}``, good for 12 hours. The gateway reuses that token per login
user (the cache: Redis when configured, in process otherwise) for ``ttl`` seconds, at most 12
hours less :data:`SAFETY_MARGIN`, so a page never receives a token about to lapse; concurrent
first requests of one user make one call (:class:`~bridge.vendors.singleflight.SingleFlight`,
across processes too with Redis). HubSpot's trouble is answered like the Zendesk lookups'
(:class:`~bridge.vendors.client.VendorClient`: 401/403 -> 502 ``vendor_auth_failed``, 429 ->
503 ``vendor_rate_limited`` with ``Retry-After``, 5xx -> 503, a hang -> 504 at the deadline).
An email is required. Another 4xx (a 400 for an email HubSpot will not take) is that user's
failure: 502 ``vendor_bad_response`` for them, remembered for :data:`REFUSED_TTL` seconds so
that asking again does not call HubSpot again, and never counted towards the circuit breaker.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import Field

from bridge.errors import EmailMissing, VendorBadResponse, VendorRefusedInput
from bridge.login.identity import Identity
from bridge.settings.base import HttpUrl, SecretSource
from bridge.targets.base import Broker, BrokerResources, Clock, MintedToken, TargetSettings
from bridge.vendors.client import VendorClient, vendor_breaker
from bridge.vendors.singleflight import SingleFlight

#: HubSpot's visitor identification tokens last 12 hours
TOKEN_LIFETIME = 43200
#: a reused token is handed out no later than this long before HubSpot's 12 hours end
SAFETY_MARGIN = 900
CREATE_PATH = "/visitor-identification/v3/tokens/create"
#: the ``api`` label of HubSpot's calls in the metrics (vendor ``hubspot``)
API = "visitor_identification"
#: seconds a user's input that HubSpot refused (a 4xx) is answered from the cache
REFUSED_TTL = 60
#: consecutive failures that open the breaker, and how long it stays open (seconds)
BREAKER_FAILURES, BREAKER_COOLDOWN = 5, 15.0
#: what a HubSpot token may look like: printable ASCII, no spaces, bounded
_TOKEN = re.compile(r"^[\x21-\x7e]{1,8192}$")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class HubSpotToken:
    token: str
    #: the email it identifies
    email: str
    #: when the gateway stops handing it out (epoch seconds)
    expires_at: int


def _names(identity: Identity, name_claims: Sequence[str]) -> tuple[str | None, str | None]:
    first = identity.display_name(["given_name"])
    last = identity.display_name(["family_name"])
    if first is None and last is None:
        display = identity.display_name([c for c in name_claims if c != "email"])
        if display:
            first, _, rest = display.partition(" ")
            last = rest.strip() or None
    return first, last


class HubSpotBroker(Broker):
    type = "hubspot"
    repr_fields = ("api_base_url",)
    default_ttl = TOKEN_LIFETIME - SAFETY_MARGIN
    max_ttl = TOKEN_LIFETIME - SAFETY_MARGIN
    needs_email = True
    issues_jwt = False

    def __init__(
        self,
        name: str,
        *,
        access_token: bytes,
        api_base_url: str,
        deadline: float,
        ttl: int | None,
        name_claims: Sequence[str],
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(name, ttl=ttl, name_claims=name_claims, clock=clock)
        self.api_base_url = api_base_url
        self.deadline = deadline
        self.__authorization = "Bearer " + access_token.decode()
        self._monotonic = monotonic
        self._sleep = sleep

    # set by bind(), at start-up, before any request
    _client: VendorClient
    _flights: SingleFlight[HubSpotToken]

    def bind(self, resources: BrokerResources) -> None:
        metrics = resources.metrics
        self._client = VendorClient(
            resources.session,
            base_url=self.api_base_url,
            authorization=self.__authorization,
            deadline=self.deadline,
            breaker=vendor_breaker(
                failures=BREAKER_FAILURES,
                cooldown=BREAKER_COOLDOWN,
                clock=self._monotonic,
                metrics=metrics,
                vendor="hubspot",
                api=API,
            ),
            clock=self._monotonic,
            sleep=self._sleep,
            metrics=metrics,
            vendor="hubspot",
            api=API,
        )
        self._flights = SingleFlight(
            resources.cache,
            kind="hubspot",
            vendor="hubspot",
            encode=self._encode_entry,
            decode=self._decode_entry,
            ttl=self._cache_ttl,
            # a user's refused input; HubSpot's own trouble is raised, never cached
            negative_ttl=REFUSED_TTL,
            lock_ttl=self.deadline + 1.0,
            clock=self._monotonic,
            sleep=self._sleep,
            metrics=metrics,
        )

    async def obtain(self, identity: Identity) -> MintedToken:
        email = identity.email
        if email is None:
            raise EmailMissing()
        first, last = _names(identity, self.name_claims)
        # per target (a HubSpot account) and per user as HubSpot will see them
        ident = orjson.dumps([self.name, identity.sub, email, first, last]).decode()
        deadline_at = self._monotonic() + self.deadline
        found = await self._flights.get(
            ident, lambda at: self._create(email, first, last, at), deadline_at
        )
        value = found.value
        if value is None:  # HubSpot refused this user's data, now or a moment ago
            raise VendorRefusedInput(reason="vendor_refused_input")
        return MintedToken(value.token, value.expires_at, {"email": value.email})

    async def _create(
        self, email: str, first: str | None, last: str | None, deadline_at: float
    ) -> HubSpotToken | None:
        """HubSpot's token, or None when HubSpot refuses this user's data (a 4xx)."""
        body = {"email": email}
        if first:
            body["firstName"] = first
        if last:
            body["lastName"] = last
        issued = int(self._clock())
        try:
            data = await self._client.post_json(CREATE_PATH, body, deadline_at=deadline_at)
        except VendorRefusedInput:
            return None
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            raise VendorBadResponse(reason="malformed_token")
        return HubSpotToken(token, email, issued + self.ttl)

    def _cache_ttl(self, value: HubSpotToken) -> float:
        return max(1.0, value.expires_at - self._clock())

    def _encode_entry(self, value: HubSpotToken) -> Any:
        return {"token": value.token, "email": value.email, "expires_at": value.expires_at}

    def _decode_entry(self, data: Any) -> HubSpotToken:
        token, email, expires_at = data["token"], data["email"], data["expires_at"]
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            raise ValueError("bad token")
        if not isinstance(email, str) or type(expires_at) is not int:
            raise ValueError("bad entry")
        if expires_at <= self._clock():
            raise ValueError("expired")  # a miss: a fresh token is asked for
        return HubSpotToken(token, email, expires_at)

    async def close(self) -> None:
        if hasattr(self, "_flights"):
            await self._flights.close()

    def summary(self) -> str:
        return (
            f"{super().summary()}; HubSpot issues the token (12 h), reused per user until "
            f"{TOKEN_LIFETIME - self.ttl}s before it lapses, from {self.api_base_url}"
        )


class HubSpotTarget(TargetSettings):
    type: Literal["hubspot"]
    builds = HubSpotBroker
    #: a private app's access token with scope conversations.visitor_identification.tokens.create
    access_token: SecretSource
    api_base_url: HttpUrl = "https://api.hubapi.com"
    #: overall deadline of one call to HubSpot, retries included (seconds)
    deadline: float = Field(default=4.0, gt=0, le=30)

    def build(self, name: str, *, name_claims: Sequence[str], clock: Clock) -> HubSpotBroker:
        return HubSpotBroker(
            name,
            access_token=self.access_token.secret.reveal(),
            api_base_url=self.api_base_url.rstrip("/"),
            deadline=self.deadline,
            ttl=self.ttl,
            name_claims=name_claims,
            clock=clock,
        )
