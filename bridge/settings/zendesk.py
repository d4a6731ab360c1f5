"""``zendesk_chat_api``, ``zendesk_support_api`` and ``staff``: the staff lookups."""

from __future__ import annotations

from pydantic import Field

from bridge.settings.base import HttpUrl, Model, SecretSource, StaffKey
from bridge.settings.login import LoginName


class _VendorApiSettings(Model):
    """How bridge calls a Zendesk API: base URL, token and resilience knobs."""

    base_url: HttpUrl
    token: SecretSource
    #: overall deadline of one lookup, retries included (seconds)
    deadline: float = Field(default=4.0, gt=0, le=60)
    #: retries for 429, 502, 503, 504 and connection errors, within the deadline
    max_retries: int = Field(default=2, ge=0, le=10)
    #: larger answers are refused (502)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)
    #: consecutive failures that open the circuit breaker
    breaker_failures: int = Field(default=5, ge=1, le=1000)
    #: seconds the open breaker answers 503 at once before trying again
    breaker_cooldown: float = Field(default=15.0, gt=0, le=3600)


class ZendeskChatApiSettings(_VendorApiSettings):
    """``https://{subdomain}.zendesk.com/api/v2/chat`` or ``https://www.zopim.com/api/v2``."""


class ZendeskSupportApiSettings(_VendorApiSettings):
    """``https://{subdomain}.zendesk.com``."""

    #: agent email for ``{email}/token:{token}`` Basic auth; null means OAuth Bearer
    email: str | None = None


class StaffSettings(Model):
    #: bearer keys for staff tooling; several are all accepted (rotation)
    api_keys: list[StaffKey] = Field(default_factory=list)
    #: login users whose token's ``groups`` has this name are staff too (via the cookie)
    login_group: str | None = None
    #: the login systems whose tokens may be staff logins; default: the first one only
    login_systems: list[LoginName] | None = Field(default=None, min_length=1)
